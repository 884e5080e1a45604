"""The chat core, platform-neutral: parsing, replies, limits, the services the handlers use
(core.Core), the handlers, inline, daily posts, and the dispatcher above them (dispatch).
May import operations/, serving/, store/, cards/ and base/; never adapters/, cli/ or runtime/."""
