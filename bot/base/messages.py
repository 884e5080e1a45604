"""Every piece of text the bot says to users (Chinese), in one place."""

from __future__ import annotations

USAGE = (
    "用法：/acrostic <藏头字> [五言|七言] [藏头|藏尾] [繁|简] [主题:…] [意象:…,…]\n"
    "例如：/acrostic 算法进阶　或　/acrostic 春风得意 五言 繁　或　/acrostic 王小明 主题:生日"
    "　或　/acrostic 金榜题名 意象:杏花,长安"
)

HELP_INTRO = "我会写藏头诗：每句的第一个字连起来，就是你给的字。"
ADMIN_LABEL = (
    "管理员："  # /help's last line: the admin commands (bot/chat/commands.py builds /help)
)
START_INTRO = "你好！我是藏头诗机器人。发送 /acrostic 算法进阶 试试。"

# --- errors the user can fix --------------------------------------------------------------------
BAD_HEAD = "{reason}\n\n" + USAGE
TOO_LONG = "消息太长了（{length} 字）。藏头最多 12 个汉字。\n\n" + USAGE
TOO_LONG_COMMAND = "消息太长了（{length} 字），/{name} 没有看。发送 /help 看看怎么用。"
UNKNOWN_COMMAND = "不认识这个命令：{name}。发送 /help 看看我会什么。"
BAD_OPTION = "看不懂这个设置：{detail}\n\n{usage}"
BAD_TEMPERATURE = "创意要在 0.3 到 1.5 之间（你给的是 {value}）。例如：/settings 创意 1.0"
RATE_USAGE = "用法：/rate [编号] <1-5>，例如 /rate 5 或 /rate 1a 4"
POEM_USAGE = "用法：/poem <编号>，编号在每首诗的最后一行，例如 #1a"

# --- limits and trouble -------------------------------------------------------------------------
RATE_LIMITED_USER = "写得太快啦，诗要慢慢品。请 {seconds} 秒后再试。"
RATE_LIMITED_CHAT = "本群这会儿点诗的人太多了，请 {seconds} 秒后再试。"
BUSY = "诗人正忙，排队的人太多了，请稍后再试。"
FAILED = "抱歉，这首诗没写成（错误号 {error_id}）。已记录，请稍后再试。"
DB_DOWN_NOTE = "（数据库暂时不可用，这首诗没有保存，暂时不能评分；错误号 {error_id}）"
DB_DOWN = "数据库暂时不可用（错误号 {error_id}），请稍后再试。"

# --- poems ---------------------------------------------------------------------------------------
POEM_TITLE = "《{head}》· {position}{form}"
POEM_TITLE_THEMED = "《{head}》· 主题 {theme} · {position}{form}"
POEM_ID = "#{poem_id} · 模型 {version}"
FALLBACK_NOTE = "注：{chars}不在字表里，构思时以{stand_ins}代替，诗中仍是原字。"
FALLBACK_NOTE_NO_STAND_IN = "注：{chars}不在字表里，构思时没有相近的字可代，诗中仍是原字。"
RELAXED_NOTE = "注：为凑成诗句，放宽了{names}。"
RELAXED_RULES = {  # params.relaxed names (engine.constraints) as a reader says them
    "rhyme": "押韵", "tones": "平仄", "novelty": "不抄古句", "max_repeat": "同字不过两次",
    "formula": "不用套话", "keyword": "意象入诗",
}  # fmt: skip
RATE_REPLY_HINT = "评分是 1 到 5 颗星：回复 5、★★★ 或 评分 4。"
KEYWORDS_LEFT_OUT = "（{keywords}未入诗）"
RATING_LINE = "评分 {mean:.1f}★（{count} 人）"
AGAIN_LABEL = "🔄 再来一首"
CARD_LABEL = "🖼 诗笺"

# --- callbacks (short toasts) -------------------------------------------------------------------
RATED = "已记下 {stars}（平均 {mean:.1f}★，{count} 人）"
RERATED = "已改为 {stars}（平均 {mean:.1f}★，{count} 人）"
STALE_BUTTON = "这个按钮已失效。"
NOT_YOUR_BUTTON = "这不是你的按钮。"
NO_SUCH_POEM = "找不到这首诗（可能已被删除）。"
AGAIN_TOAST = "再来一首……"
CARD_TOAST = "诗笺来了。"
CARD_SAVED = "诗笺已存为 {path}"
CARD_NOT_SAVED = "（诗笺没能保存：{reason}）"
CARD_UNAVAILABLE = "抱歉，这首诗现在做不成诗笺（错误号 {error_id}）。"

# --- /top /stats /poem ---------------------------------------------------------------------------
TOP_EMPTY = "本群还没有打过分的诗。写一首，点 ★ 打分吧！"
TOP_HEADER = "本群评分最高的诗："
TOP_ITEM = "{rank}. 《{head}》{mean:.1f}★（{count} 人）#{poem_id}\n{poem}"
STATS = (
    "本群共写诗 {poems} 首（另有 {failed} 次没写成），{users} 位诗友，打分 {ratings} 次"
    "，平均 {mean:.1f}★。\n最常藏的字：{top_head}\n当前模型：{version}"
)
REPRODUCED_SAME = "按 #{poem_id} 的参数重写，模型同为 {version}，结果与原诗一致：{same}"
REPRODUCED_OTHER = "#{poem_id} 由模型 {old} 写成，现在是 {new}，重写的结果可能不同。"

# --- /settings -----------------------------------------------------------------------------------
SETTINGS = (
    "本群设置：\n默认体裁：{form}\n押韵：{rhyme}\n字体：{script}\n创意（🔄 的温度）：{temperature:.1f}\n"
    "主题：{theme}\n\n"
    "修改：/settings 五言|七言　/settings 押韵 开|关　/settings 繁|简　/settings 创意 0.3–1.5"
    "　/settings 主题 祝寿|关"
)
NO_THEME = "（藏头字本身）"
OUTLINE_LINE = "意象：{keywords}"
BAD_THEME_SETTING = "{reason}\n\n例如：/settings 主题 祝寿　或　/settings 主题 关"
SETTINGS_SAVED = "已保存。"
SETTINGS_CHAT_ADMIN_ONLY = "只有群管理员可以修改本群设置。"
ON, OFF = "开", "关"
SCRIPTS = {"simplified": "简体", "traditional": "繁体"}

# --- /forgetme -----------------------------------------------------------------------------------
FORGET_CONFIRM = "这会删除你在所有群里的全部请求和评分，不能恢复。确定吗？"
FORGET_BUTTON = "确认删除"
# QQ (OneBot v11) has no buttons: the poem says how to reply to it instead
QQ_REPLY_HINT = "（回复本条：1–5 打分 · 再来 · 卡片）"
QQ_FORGET_HINT = "（确认请发送：/forgetme 确认）"
QQ_NOT_READY = "藏头诗还在启动，请稍后再试。"
QQ_FAILED = "藏头诗暂时不可用（插件没能启动，管理员请看日志）。"
FORGOTTEN = "已删除你的 {requests} 条请求和 {ratings} 条评分。"
FORGOTTEN_MEANWHILE = "你刚刚请我忘记你，这首诗就不留了。"

# --- admin ---------------------------------------------------------------------------------------
NOT_ADMIN = "抱歉，这个命令只有机器人管理员可以用。"
ADMIN_NOT_WIRED = "这个命令需要调度器（重训练与回滚），本实例还没有启用。"
MODEL_INFO = "当前模型：{version}\n创建于：{created}\n测试集交叉熵：{test_nats}\n参数量：{params}"
MODEL_PROMOTED = "启用于：{when}\n原因：{reason}\n上一版：{parent}"
RETRAIN_STARTED = (
    "已开始重新训练（后台进行，机器人照常写诗）。结束后会通知管理员；/retrain status 查看进度。"
)
RETRAIN_BUSY = "重新训练正在进行（第 {run} 次），请稍候。"
RETRAIN_NEVER = "还没有重新训练过。"
RETRAIN_STATUS = (
    "第 {run} 次重新训练：{status}\n开始于：{started}\n用到的高分诗：{poems} 首\n结论：{decision}"
)
RETRAIN_PROMOTED = "重新训练第 {run} 次：新模型 {version} 已启用。\n测试集交叉熵 {base} → {cand}；押韵率 {base_rhyme} → {cand_rhyme}；共用三字组 {base_shared} → {cand_shared}\n{decision}"
RETRAIN_REJECTED = "重新训练第 {run} 次：候选模型 {version} 未通过（{metric}），继续使用当前模型。\n测试集交叉熵 {base} → {cand}；押韵率 {base_rhyme} → {cand_rhyme}；共用三字组 {base_shared} → {cand_shared}\n{decision}"
RETRAIN_SKIPPED_NOTE = "重新训练第 {run} 次跳过：没有新的高分诗可学，当前模型照常服务。"
RETRAIN_FAILED_NOTE = "重新训练第 {run} 次失败，当前模型照常服务：{decision}"
ROLLED_BACK = "已回滚：{old} → {new}。"
ROLLBACK_FAILED = "无法回滚：{reason}"

# --- daily posts ---------------------------------------------------------------------------------
SUBSCRIBED = "已订阅：每天 {time}（{timezone}）送一首{form}藏头诗。/unsubscribe 取消。"
UNSUBSCRIBED = "已取消每日一诗。"
NOT_SUBSCRIBED = "本群没有订阅每日一诗。"
SUBSCRIBE_USAGE = "用法：/subscribe [HH:MM] [五言|七言]，例如 /subscribe 08:00 七言"
SUBSCRIBE_CHAT_ADMIN_ONLY = "只有群管理员可以订阅或取消每日一诗。"
DAILY_TITLE = "【每日一诗 · {date} · {why}】"

# --- inline mode (@bot 算法进阶 in any chat) ----------------------------------------------------
INLINE_WRITING = "诗还在写，请稍候再输入一次。"
