"""The head of the day for daily posts: festivals, the 24 solar terms (节气), else an auspicious
phrase — deterministic for a date. Solar terms are computed from the sun's apparent longitude
(Meeus, Astronomical Algorithms ch. 25, good to ~0.01°, i.e. minutes) in China time."""

from __future__ import annotations

import datetime as dt
import hashlib
import math

CHINA = dt.timezone(dt.timedelta(hours=8))
# term k begins when the sun's apparent longitude reaches 15·k degrees (春分 at 0°)
TERMS = [
    ("春分", "春分燕归"), ("清明", "清明时节"), ("谷雨", "谷雨茶香"), ("立夏", "立夏荷风"),
    ("小满", "小满麦黄"), ("芒种", "芒种农忙"), ("夏至", "夏至蝉鸣"), ("小暑", "小暑温风"),
    ("大暑", "大暑流萤"), ("立秋", "立秋凉至"), ("处暑", "处暑秋高"), ("白露", "白露月明"),
    ("秋分", "秋分丹桂"), ("寒露", "寒露菊黄"), ("霜降", "霜降枫红"), ("立冬", "立冬暖阳"),
    ("小雪", "小雪初晴"), ("大雪", "大雪丰年"), ("冬至", "冬至阳生"), ("小寒", "小寒梅开"),
    ("大寒", "大寒迎春"), ("立春", "立春迎福"), ("雨水", "雨水润田"), ("惊蛰", "惊蛰春雷"),
]  # fmt: skip
FESTIVALS = {
    (1, 1): ("元旦", "新年吉祥"), (3, 8): ("妇女节", "巾帼芳华"), (3, 12): ("植树节", "绿树成荫"),
    (5, 1): ("劳动节", "劳动光荣"), (5, 4): ("青年节", "青春无悔"), (6, 1): ("儿童节", "童心未泯"),
    (9, 10): ("教师节", "师恩难忘"), (10, 1): ("国庆节", "国泰民安"),
}  # fmt: skip
PHRASES = [
    "一帆风顺", "万事如意", "花好月圆", "心想事成", "岁岁平安", "海阔天空", "山高水长",
    "春华秋实", "龙马精神", "吉祥如意", "风调雨顺", "锦绣前程", "福寿安康", "和气致祥",
    "天道酬勤", "厚德载物", "宁静致远", "云开月明", "鹏程万里", "金玉满堂", "喜气洋洋",
    "笑口常开", "诗书传家", "福星高照", "步步高升", "百事顺遂", "日新月异", "安居乐业",
]  # fmt: skip


def sun_longitude(moment: dt.datetime) -> float:
    """Apparent ecliptic longitude of the sun in degrees [0, 360) at an aware datetime."""
    jd = moment.timestamp() / 86400.0 + 2440587.5
    t = (jd - 2451545.0) / 36525.0
    l0 = 280.46646 + 36000.76983 * t + 0.0003032 * t * t
    m = math.radians(357.52911 + 35999.05029 * t - 0.0001537 * t * t)
    c = ((1.914602 - 0.004817 * t - 0.000014 * t * t) * math.sin(m)
         + (0.019993 - 0.000101 * t) * math.sin(2 * m) + 0.000289 * math.sin(3 * m))  # fmt: skip
    omega = math.radians(125.04 - 1934.136 * t)
    return (l0 + c - 0.00569 - 0.00478 * math.sin(omega)) % 360.0


def solar_term(day: dt.date) -> str | None:
    """The 节气 that begins on this date (China time), if any."""
    start = dt.datetime(day.year, day.month, day.day, tzinfo=CHINA)
    before = int(sun_longitude(start) // 15)
    after = int(sun_longitude(start + dt.timedelta(days=1)) // 15)
    return TERMS[after % 24][0] if before != after else None


def head_of_the_day(day: dt.date) -> tuple[str, str]:
    """(head, why): a festival, else a solar term, else a phrase picked by the date's hash."""
    if (day.month, day.day) in FESTIVALS:
        name, head = FESTIVALS[day.month, day.day]
        return head, name
    term = solar_term(day)
    if term is not None:
        return dict(TERMS)[term], term
    digest = hashlib.sha256(day.isoformat().encode()).digest()
    return PHRASES[int.from_bytes(digest[:4], "big") % len(PHRASES)], "吉语"
