"""The head of the day for daily posts: a festival (lunar ones too), a solar term (节气), else an
auspicious phrase — deterministic for a date. Dates come from lunar-python (China time)."""

from __future__ import annotations

import datetime as dt
import hashlib

from lunar_python import Solar

# the head of each solar term, by lunar-python's name
TERMS = {
    "春分": "春分燕归", "清明": "清明时节", "谷雨": "谷雨茶香", "立夏": "立夏荷风",
    "小满": "小满麦黄", "芒种": "芒种农忙", "夏至": "夏至蝉鸣", "小暑": "小暑温风",
    "大暑": "大暑流萤", "立秋": "立秋凉至", "处暑": "处暑秋高", "白露": "白露月明",
    "秋分": "秋分丹桂", "寒露": "寒露菊黄", "霜降": "霜降枫红", "立冬": "立冬暖阳",
    "小雪": "小雪初晴", "大雪": "大雪丰年", "冬至": "冬至阳生", "小寒": "小寒梅开",
    "大寒": "大寒迎春", "立春": "立春迎福", "雨水": "雨水润田", "惊蛰": "惊蛰春雷",
}  # fmt: skip
# lunar-python's festival name → (the name a post gives, its head); others are not posted.
# The lunar festivals are their own head and the poem's theme (see `theme_of`).
FESTIVALS = {
    "春节": ("春节", "春节"), "元宵节": ("元宵节", "元宵"), "端午节": ("端午节", "端午"),
    "七夕节": ("七夕节", "七夕"), "中秋节": ("中秋节", "中秋"), "重阳节": ("重阳节", "重阳"),
    "除夕": ("除夕", "除夕"),
    "元旦节": ("元旦", "新年吉祥"), "妇女节": ("妇女节", "巾帼芳华"), "植树节": ("植树节", "绿树成荫"),
    "劳动节": ("劳动节", "劳动光荣"), "青年节": ("青年节", "青春无悔"), "儿童节": ("儿童节", "童心未泯"),
    "教师节": ("教师节", "师恩难忘"), "国庆节": ("国庆节", "国泰民安"),
}  # fmt: skip
PHRASES = [
    "一帆风顺", "万事如意", "花好月圆", "心想事成", "岁岁平安", "海阔天空", "山高水长",
    "春华秋实", "龙马精神", "吉祥如意", "风调雨顺", "锦绣前程", "福寿安康", "和气致祥",
    "天道酬勤", "厚德载物", "宁静致远", "云开月明", "鹏程万里", "金玉满堂", "喜气洋洋",
    "笑口常开", "诗书传家", "福星高照", "步步高升", "百事顺遂", "日新月异", "安居乐业",
]  # fmt: skip


def solar_term(day: dt.date) -> str | None:
    """The 节气 that begins on this date (China time), if any."""
    return Solar.fromYmd(day.year, day.month, day.day).getLunar().getJieQi() or None


def festival(day: dt.date) -> str | None:
    """The festival of this date that daily posts celebrate (lunar ones first), if any."""
    solar = Solar.fromYmd(day.year, day.month, day.day)
    for name in (*solar.getLunar().getFestivals(), *solar.getFestivals()):
        if name in FESTIVALS:
            return name
    return None


LUNAR_HEADS = frozenset(("春节", "元宵", "端午", "七夕", "中秋", "重阳", "除夕"))


def theme_of(head: str) -> str | None:
    """A festival head is also the theme of its poem; any other head's theme is the head's own."""
    return head if head in LUNAR_HEADS else None


def head_of_the_day(day: dt.date) -> tuple[str, str]:
    """(head, why): a festival, else a solar term, else a phrase picked by the date's hash."""
    name = festival(day)
    if name is not None:
        why, head = FESTIVALS[name]
        return head, why
    term = solar_term(day)
    if term is not None:
        return TERMS[term], term
    digest = hashlib.sha256(day.isoformat().encode()).digest()
    return PHRASES[int.from_bytes(digest[:4], "big") % len(PHRASES)], "吉语"
