"""The plan in chat: `意象:` and `主题:` anywhere in the arguments, one clear line for a malformed
one, the outline shown under the poem and stored with it, /poem reproducing a planned poem,
and 🔄 drawing another outline."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select

from bot.chat.actors import Actor
from bot.chat.parsing import again_payload, parse_poem_args, to_base36
from bot.store.models import PoemRequest, RequestStatus
from engine import Poet
from engine.checkpoint import load_model_dir, resave

pytestmark = pytest.mark.integration

ALICE = Actor("telegram", "1", "-5", "alice", "group")
SPRING = ["月山", "江南", "秋雨", "夜来", "人归", "长门", "楼上", "白日", "东西", "青山"]


@pytest.mark.parametrize(
    ("args", "head", "theme", "keywords", "cpl"),
    [
        ("金榜题名 意象:杏花,长安", "金榜题名", None, ("杏花", "长安"), None),
        ("意象：杏花，长安 金榜题名 五言", "金榜题名", None, ("杏花", "长安"), 5),
        ("金榜题名 主题:及第 意象:杏花、长安 繁", "金榜题名", "及第", ("杏花", "长安"), None),
        ("主题:及第 金榜题名 keywords:杏花", "金榜题名", "及第", ("杏花",), None),
    ],
)
def test_labelled_options_parse_anywhere(args, head, theme, keywords, cpl):
    options = parse_poem_args(args)
    assert (options.head, options.theme, options.keywords) == (head, theme, keywords)
    assert options.chars_per_line == cpl and options.problem is None


def test_a_label_given_twice_is_a_problem():
    assert "只能给一次" in parse_poem_args("春风 意象:月山 意象:江南").problem
    assert parse_poem_args("春风 意象:").problem.startswith("意象为空")


@pytest.fixture
def planned(tmp_path, tiny_model_dir):
    """The tiny model with plan data whose lexicon knows 春风."""
    path = tmp_path / "planned"
    shutil.copytree(tiny_model_dir, path)
    data = {"triggers": {"春风": ["spring"]}, "categories": {"spring": SPRING}}
    resave(load_model_dir(path), {}, plan_data=data)
    return Poet.load(path)


@pytest.fixture
async def planned_core(sqlite_url, planned):
    from bot.runtime.app import build_core
    from bot.serving.poets import PoetHolder
    from tests.conftest import bot_settings

    limits = {"user_burst": 100, "chat_burst": 100}
    core = build_core(bot_settings(sqlite_url, limits=limits), PoetHolder(poet=planned))
    yield core
    await core.close()
    core.db.dispose()


async def test_the_users_keywords_are_in_the_poem_shown_and_stored(core):
    reply = await core.command(ALICE, "/acrostic 春风 五言 意象:月山")
    lines = reply.text.splitlines()
    assert "月山" in lines[1] and "意象：月山" in lines
    with core.db.session() as s:
        row = s.get(PoemRequest, reply.poem_id)
        assert row.options["keywords"] == ["月山"] and row.params["outline"][0] == "月山"


@pytest.mark.parametrize(
    ("args", "says"),
    [("意象:", "意象为空"), ("意象:abc", "意象只能是汉字"), ("意象:月山 意象:江南", "「意象:」只能给一次"),
     ("意象:春风花月", "意象「春风花月」太长"), ("意象:月,山,江", "意象太多")],
)  # fmt: skip
async def test_a_malformed_keyword_gets_one_clear_line_and_is_stored(core, args, says):
    reply = await core.command(ALICE, f"/acrostic 春风 {args}")
    assert reply.poem_id is None and reply.text.splitlines()[0].startswith(says), reply.text
    with core.db.session() as s:
        row = s.scalars(select(PoemRequest).order_by(PoemRequest.id.desc())).first()
        assert row.status == RequestStatus.REJECTED and row.error_code == "bad_option"


async def test_poem_reproduces_a_poem_whose_outline_the_planner_drew(planned_core):
    reply = await planned_core.command(ALICE, "/acrostic 春风 五言")
    outline = next(line for line in reply.text.splitlines() if line.startswith("意象："))
    words = outline.removeprefix("意象：").split(" · ")
    assert len(words) == 2 and set(words) <= set(SPRING)
    lines = reply.text.splitlines()[1:3]
    assert all(w in line for w, line in zip(words, lines, strict=True))
    again = await planned_core.command(ALICE, f"/poem {to_base36(reply.poem_id)}")
    assert "结果与原诗一致：是" in again.text
    with planned_core.db.session() as s:
        row = s.get(PoemRequest, reply.poem_id)
        assert row.params["outline"] == words and row.params["outline_source"] == "planner"


async def test_redraws_draw_other_outlines(planned_core):
    first = await planned_core.command(ALICE, "/acrostic 春风 七言")
    outlines = set()
    for _ in range(6):
        answer = await planned_core.callback(ALICE, again_payload(first.poem_id))
        assert answer.reply is not None and answer.reply.poem_id is not None
        shown = [x for x in answer.reply.text.splitlines() if x.startswith("意象：")]
        outlines.add(shown[0] if shown else "")
    assert len(outlines) > 1


@pytest.mark.parametrize("args", ["春风主题:祝寿", "春风 主题:祝寿 主题:生日", "春风意象：月山"])
async def test_a_theme_marker_in_the_head_or_twice_gets_one_clear_line(core, args):
    reply = await core.command(ALICE, f"/acrostic {args}")
    assert reply.poem_id is None and ("分开写" in reply.text or "只能给一次" in reply.text)
    assert reply.text.splitlines()[1] == ""  # one line, then the usage


@pytest.mark.parametrize(
    ("args", "stored"),
    [("08:30", "08:30"), ("０８：３０", "08:30"), ("8:05 五言", "08:05"), ("08:0٩", None),
     ("08:௫0", None), ("24:00", None)],
)  # fmt: skip
def test_subscribe_reads_ascii_digits_only(args, stored):
    from bot.chat.daily import parse_subscribe

    parsed = parse_subscribe(args, "07:00")
    assert (parsed[0] if parsed else None) == stored


async def test_a_theme_inside_a_single_value_is_one_clear_line(core):
    """Discord's head option and `/settings 主题 主题:生日` (issue 31 item 8)."""
    from bot.chat.parsing import PoemOptions

    reply = await core.acrostic(ALICE, PoemOptions("春风主题:祝寿"))
    assert reply.poem_id is None and reply.text.startswith("这里不能写「主题:」")
    reply = await core.command(ALICE, "/settings 主题 主题:生日")
    assert "这里不能写「主题:」" in reply.text and not reply.text.startswith("已保存")


def test_plan_show_reads_a_heads_file_or_says_in_one_line_why_not(tmp_path, planned):
    from typer.testing import CliRunner

    from bot.cli import app

    heads = tmp_path / "heads.txt"
    heads.write_text("# a comment\n春风\n", encoding="utf-8")
    model = str(planned.loaded.path)
    shown = CliRunner().invoke(app, ["plan", "show", f"@{heads}", "--model", model])
    assert shown.exit_code == 0 and shown.stdout.startswith("春风\t") and "·" in shown.stdout
    missing = CliRunner().invoke(app, ["plan", "show", f"@{tmp_path}/none", "--model", model])
    assert missing.exit_code == 2 and "cannot read the heads" in missing.output
    for bad, says in ((["abc"], "藏头只能是汉字"), (["春风", "--keywords", "龘山"], "写不出"),
                      (["春风", "--chars", "9"], "must be 5")):  # fmt: skip
        refused = CliRunner().invoke(app, ["plan", "show", *bad, "--model", model])
        assert refused.exit_code == 2 and says in refused.output  # as `acrostic poem` says


@pytest.mark.parametrize(
    ("args", "keywords"),
    [
        ("金榜题名 意象:杏花, 长安", ("杏花", "长安")),  # a space after the comma
        ("金榜题名 意象:杏花 ，　长安 五言", ("杏花", "长安")),
        ("金榜题名 意象:杏花／长安", ("杏花", "长安")),
        ("金榜题名 意象:杏花,,长安", ("杏花", "", "长安")),  # line 2 left to the planner
        ("金榜题名 意象:,长安", ("", "长安")),
        ("金榜题名 意象:杏花, 主题:及第", ("杏花",)),  # never into the next label
    ],
)
def test_a_keyword_list_keeps_its_places_and_spaces(args, keywords):
    options = parse_poem_args(args)
    assert (options.head, options.keywords, options.problem) == ("金榜题名", keywords, None)


@pytest.mark.parametrize("args", ["金榜题名 意象:杏花 长安", "王小明 主题:生日 快乐"])
def test_a_head_split_by_a_label_is_a_problem_not_a_longer_head(args):
    """Probe 2026-12-07: the words after the label became more head characters (six lines)."""
    assert "藏头字要连在一起写" in parse_poem_args(args).problem


async def test_a_keyword_the_model_cannot_write_is_one_line_and_stored(core):
    """Only the model knows its characters: the refusal comes from the search (through the
    worker), and was reported as a failed generation with an error id."""
    reply = await core.command(ALICE, "/acrostic 春风 意象:龘山")
    assert "写不出" in reply.text and "错误号" not in reply.text and reply.error_id is None
    with core.db.session() as s:
        row = s.scalars(select(PoemRequest).order_by(PoemRequest.id.desc())).first()
        assert (row.status, row.error_code) == (RequestStatus.REJECTED, "bad_option")
