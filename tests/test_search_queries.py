"""Searches as villagers type them (tests/search_queries.tsv): no marks, abbreviations, a typo,
two topics at once. The guide named beside each query must come first."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from bench._common import postgres
from server.db import Database
from server.guides import load_guides, search_guides
from server.migrate import migrate

TABLE = Path(__file__).with_name("search_queries.tsv")
QUERIES = [
    tuple(line.split("\t"))
    for line in TABLE.read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The shipped catalogue loaded once for every query (the queries only read)."""
    admin_url = os.environ.get("TEST_DATABASE_URL")
    with ExitStack() as stack:
        if admin_url:
            url = stack.enter_context(postgres(admin_url))
        else:
            url = f"sqlite:///{tmp_path_factory.mktemp('queries') / 'catalogue.sqlite3'}"
        migrate(url)
        db = Database(url)
        stack.callback(db.dispose)
        with db.write() as s:
            load_guides(s)
        yield db


def test_the_table_has_enough_queries() -> None:
    assert len(QUERIES) >= 40


@pytest.mark.parametrize(("query", "first"), QUERIES)
def test_villager_query_finds_the_guide_first(loaded: Database, query: str, first: str) -> None:
    with loaded.read() as s:
        results = [g.slug for g in search_guides(s, query, "vi")]
    assert results and results[0] == first, results[:3]


def test_a_guide_changed_after_loading_is_found_by_its_new_words(
    db: Database, tmp_path: Path
) -> None:
    from tests.test_guides import guide_text, write

    write(tmp_path, guide_text("chuon-chuon", title="Chuồn chuồn bay"), "chuon-chuon")
    with db.write() as s:
        load_guides(s, tmp_path)
    write(tmp_path, guide_text("chuon-chuon", title="Bươm bướm bay"), "chuon-chuon")
    with db.write() as s:
        load_guides(s, tmp_path)
    with db.read() as s:
        assert [g.slug for g in search_guides(s, "buom buom", "vi")] == ["chuon-chuon"]
        assert search_guides(s, "chuon chuon", "vi") == []


def test_one_typo_and_an_unfinished_last_word(loaded: Database) -> None:
    with loaded.read() as s:
        assert search_guides(s, "bao hiem y tee", "vi")[0].slug == "vssid-the-bhyt-dien-tu"
        assert search_guides(s, "ly lich tu ph", "vi")[0].slug == "ly-lich-tu-phap-qua-vneid"
