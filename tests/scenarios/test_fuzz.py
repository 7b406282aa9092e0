"""Hostile input never gives a traceback: every loader and the scenario parser either
accept it or raise one ``RecworldError`` (a line naming the file and what is wrong).

A few hundred cases run in CI; ``benchmarks/fuzz_inputs.sh`` runs 10,000 by raising
``RECWORLD_FUZZ_EXAMPLES``.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenarios.datasets import load_dataset, suspect_interactions
from scenarios.loader import load_scenario
from simulator.errors import RecworldError

EXAMPLES = int(os.environ.get("RECWORLD_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

TOKENS = st.one_of(
    st.integers(-(10**25), 10**25).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", " ", "1", "5", "2.5", "nan", "-1", "1e309", "2020-01-01", '"', "\x00"]),
    st.text(max_size=12),
)
LINES = st.lists(st.lists(TOKENS, min_size=0, max_size=6), max_size=12)


def _load_quietly(kind: str, path: Path, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_dataset(kind, path, **options)


def _accepts_or_refuses(load) -> None:
    try:
        load()
    except RecworldError as exc:
        assert "\n" not in str(exc).strip(), str(exc)


@FUZZ
@given(LINES, st.sampled_from([",", "\t", ";"]), st.sampled_from(["utf-8", "utf-16", "latin-1"]))
def test_csv_loader_never_tracebacks(rows, sep, encoding):
    text = "user_id,item_id,rating,timestamp\n" + "\n".join(sep.join(r) for r in rows)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.csv"
        try:
            path.write_bytes(text.encode(encoding))
        except UnicodeEncodeError:
            return
        _accepts_or_refuses(lambda: _load_quietly("csv", path))


@FUZZ
@given(LINES, st.binary(max_size=64))
def test_movielens_100k_loader_never_tracebacks(tiny_ml100k, rows, tail):
    with tempfile.TemporaryDirectory() as name:
        body = "\n".join("\t".join(r) for r in rows).encode("utf-8", "surrogatepass")
        folder = tiny_ml100k(Path(name), body + tail)
        _accepts_or_refuses(lambda: _load_quietly("movielens-100k", folder))


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(), st.text(max_size=20)
)
KEYS = st.sampled_from(
    [
        "name", "steps", "slate_size", "pages", "seed", "policy", "output", "recommender",
        "llm", "memory", "dataset", "population", "utility", "arms", "switches", "arrivals",
        "name2", "class", "params", "backend", "kind", "path", "options", "size", "!!python",
    ]
)  # fmt: skip
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=20,
)


@FUZZ
@given(
    st.one_of(
        DOCUMENTS.map(lambda d: yaml.safe_dump(d).encode()),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.binary(max_size=200),
    )
)
def test_scenario_parser_never_tracebacks(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.yaml"
        path.write_bytes(data)
        _accepts_or_refuses(lambda: load_scenario(path))


# -- suspect data: warned about in one line, kept ----------------------------------------


def _csv(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,rating,timestamp\n" + body)
    return path


def test_duplicate_conflicting_and_negative_rows_are_warned_and_kept(tmp_path):
    path = _csv(tmp_path, "1,2,3,-5\n1,2,4,5\n1,3,4,7\n1,3,4,8\n2,2,5,9\n")
    with pytest.warns(UserWarning) as caught:
        data = load_dataset("csv", path)
    messages = [str(w.message) for w in caught]
    assert any(
        "2 user-item pair(s) rated more than once, 1 of them with different" in m for m in messages
    )
    assert any("1 interaction(s) have a timestamp before 1970" in m for m in messages)
    assert len(data.interactions) == 5
    assert suspect_interactions(load_dataset("csv", _csv(tmp_path, "1,2,3,5\n1,3,,6\n"))) == []


def test_repeated_unrated_interactions_are_normal(tmp_path):
    data = load_dataset("csv", _csv(tmp_path, "1,2,,5\n1,2,,6\n"))
    assert suspect_interactions(data) == []


def test_an_empty_interaction_file_is_warned(tmp_path, tiny_ml100k):
    folder = tiny_ml100k(tmp_path / "ml", "")
    with pytest.warns(UserWarning, match="u.data: has no rows"):
        load_dataset("movielens-100k", folder)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_wide_encoding_is_named(tmp_path, encoding):
    path = tmp_path / "log.csv"
    path.write_bytes("user_id,item_id,rating,timestamp\n1,2,3,4\n".encode(encoding))
    with pytest.raises(RecworldError, match=r"looks UTF-(16|32) encoded"):
        load_dataset("csv", path)
