"""Dataset loaders: real files read in place, malformed copies in tmp_path, synthetic data."""

from __future__ import annotations

import csv
import string
import tempfile
import time
import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scenarios.datasets as datasets
from scenarios.datasets import (
    DATASET_KINDS,
    generate_synthetic,
    guess_kind,
    load_csv,
    load_dataset,
    load_movielens_1m,
    load_movielens_100k,
    load_recagent,
    load_recbole,
)
from scenarios.datasets.recbole import RECBOLE_TYPES, parse_recbole_header
from simulator.errors import DatasetError

AGENTCF = "agentcf-cds/CDs-100-user-dense"


def _need(shared_data: Path, sub: str) -> Path:
    folder = shared_data / sub
    if not folder.is_dir():
        pytest.skip(f"{folder} not found; set RECWORLD_DATA")
    return folder


def _assert_contract_dtypes(ds) -> None:
    inter = ds.interactions
    assert inter["timestamp"].dtype == np.int64
    assert inter["rating"].dtype == np.float64
    for frame, column in (
        (inter, "user_id"),
        (inter, "item_id"),
        (ds.users, "user_id"),
        (ds.items, "item_id"),
        (ds.items, "title"),
        (ds.items, "description"),
    ):
        assert all(isinstance(v, str) for v in frame[column]), column
    assert all(isinstance(g, tuple) for g in ds.items["genres"])


# --------------------------------------------------------------------------- real data


@pytest.mark.data
def test_movielens_100k_real(shared_data: Path) -> None:
    folder = _need(shared_data, "ml-100k")
    start = time.perf_counter()
    ds = load_movielens_100k(folder)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0  # typically ~0.1 s; guards against a slow-parser regression
    assert (len(ds.users), len(ds.items), len(ds.interactions)) == (943, 1682, 100000)
    genres = [line.split("|")[0] for line in (folder / "u.genre").read_text().splitlines() if line]
    assert ds.meta["genres"] == genres
    toy = ds.items.set_index("item_id").loc["1"]
    assert toy["title"] == "Toy Story (1995)"
    assert toy["genres"] == ("Animation", "Children's", "Comedy")
    assert set(ds.interactions["rating"].unique()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert ds.users["age"].dtype == np.int64
    _assert_contract_dtypes(ds)


@pytest.mark.data
def test_recagent_real(shared_data: Path) -> None:
    folder = _need(shared_data, "recagent")
    ds = load_recagent(folder)
    with (folder / "relationship_1000.csv").open(newline="") as f:
        edges = sum(1 for _ in csv.reader(f)) - 1
    with (folder / "item.csv").open(newline="") as f:
        n_items = sum(1 for _ in csv.reader(f)) - 1
    assert edges == 20846  # the file has no final newline, so `wc -l` says 20845
    assert (len(ds.users), len(ds.items), len(ds.social)) == (1000, n_items, edges)
    assert ds.interactions.empty
    assert list(ds.interactions.columns) == ["user_id", "item_id", "timestamp", "rating"]
    for column in ("name", "gender", "age", "traits", "status", "interests", "feature"):
        assert all(isinstance(v, str) for v in ds.users[column]), column
    first = ds.users.iloc[0]
    assert first["interests"] == "sci-fi movies, comedy movies"
    assert ds.items.iloc[0]["genres"] == ("Animation", "Children's", "Comedy")
    assert set(ds.social["source"]) <= set(ds.user_ids)
    assert ds.social["weight"].between(0, 1).all()
    _assert_contract_dtypes(ds)


@pytest.mark.data
def test_agentcf_sequences_rebuilt(shared_data: Path) -> None:
    folder = _need(shared_data, AGENTCF)
    ds = load_recbole(folder)
    assert len(ds.users) == 100
    inter = ds.interactions
    seqs = {u: g["item_id"].tolist() for u, g in inter.groupby("user_id", sort=False)}
    for _, g in inter.groupby("user_id", sort=False):
        assert g["timestamp"].tolist() == list(range(len(g)))
    # Every line of every split is (a prefix of the user's history, the next item).
    for split in ("train", "valid", "test"):
        lines = (folder / f"{folder.name}.{split}.inter").read_text().splitlines()[1:]
        for line in lines:
            user, history, target = line.split("\t")
            prefix = history.split()
            assert seqs[user][: len(prefix) + 1] == [*prefix, target]
            position = len(prefix)
            row = inter[(inter["user_id"] == user) & (inter["timestamp"] == position)]
            assert row["split"].item() == split
    assert inter["split"].value_counts().to_dict() == {"train": 600, "valid": 100, "test": 100}
    assert inter["rating"].isna().all()
    assert set(ds.item_ids) == set(inter["item_id"])
    genres = ds.items.set_index("item_id")["genres"]
    assert all(";" not in g for tup in genres for g in tup)
    _assert_contract_dtypes(ds)


@pytest.mark.data
def test_recbole_keep_all_items_and_load_dataset(shared_data: Path) -> None:
    _need(shared_data, AGENTCF)
    ds = load_dataset("recbole", AGENTCF, data_dir=shared_data, keep_all_items=True)
    assert len(ds.items) == 64031
    assert ds.items.set_index("item_id").loc["0", "genres"] == ("Folk", "Contemporary Folk")
    assert guess_kind(shared_data / AGENTCF) == "recbole"
    assert guess_kind(shared_data / "recagent") == "recagent"


@pytest.mark.data
def test_truncated_u_data(shared_data: Path, tmp_path: Path) -> None:
    folder = _need(shared_data, "ml-100k")
    for name in ("u.item", "u.user", "u.genre"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    head = (folder / "u.data").read_text().splitlines()[:100]
    (tmp_path / "u.data").write_text("\n".join(head) + "\n196\t242")
    with pytest.raises(DatasetError) as err:
        load_movielens_100k(tmp_path)
    assert str(err.value) == (
        f"{tmp_path / 'u.data'}:101: expected 4 tab-separated fields "
        "(user, item, rating, timestamp), found 2"
    )


# --------------------------------------------------------------------------- MovieLens, small


def _write_ml100k(root: Path, data: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "u.genre").write_text("unknown|0\nAction|1\nComedy|2\n\n")
    (root / "u.item").write_bytes(
        "1|Caf\u00e9 (1995)|01-Jan-1995||http://x|0|1|1\n2|B (1996)|01-Jan-1996||http://y|1|0|0\n".encode(
            "latin-1"
        )
    )
    (root / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")
    (root / "u.data").write_text("".join(line + "\n" for line in data))
    return root


def test_movielens_100k_small(tmp_path: Path) -> None:
    root = _write_ml100k(tmp_path, ["1\t1\t5\t100", "2\t2\t3\t200"])
    ds = load_movielens_100k(root)
    assert ds.items["title"].tolist() == ["Caf\u00e9 (1995)", "B (1996)"]
    assert ds.items["genres"].tolist() == [("Action", "Comedy"), ("unknown",)]
    assert ds.interactions["timestamp"].tolist() == [100, 200]
    assert ds.meta["genres"] == ["unknown", "Action", "Comedy"]


@pytest.mark.parametrize(
    ("data", "line", "fragment"),
    [
        (["1\t1\t5\t100", "2\t1\tx\t200"], 2, "rating 'x' is not a number"),
        (["1\t1\t5\t100", "2\t1\t4\t2.5"], 2, "timestamp '2.5' is not an integer"),
        (["1\t1\t5\t100", "1\t9\t4\t200"], 2, "item '9' is not in u.item"),
        (["7\t1\t5\t100"], 1, "user '7' is not in u.user"),
        (["1\t1\t5\t100", "", "1\t2\t9\t200"], 3, "rating 9 is outside the 1–5 scale"),
        (["1\t1\t5\t100\t7"], 1, "expected 4 tab-separated fields"),
        (["1\t1\t5"], 1, "4 tab-separated fields (user, item, rating, timestamp), found 3"),
    ],
)
def test_movielens_100k_bad_u_data(
    tmp_path: Path, data: list[str], line: int, fragment: str
) -> None:
    root = _write_ml100k(tmp_path, data)
    with pytest.raises(DatasetError) as err:
        load_movielens_100k(root)
    assert err.value.path == root / "u.data"
    assert err.value.line == line
    assert str(err.value).startswith(f"{root / 'u.data'}:{line}: ")
    assert fragment in str(err.value)


def test_movielens_100k_bad_genre_flag_and_missing_file(tmp_path: Path) -> None:
    root = _write_ml100k(tmp_path / "a", ["1\t1\t5\t100"])
    (root / "u.item").write_text("1|A (1995)|||u|0|1|1\n2|B (1996)|||u|0|2|0\n")
    with pytest.raises(DatasetError, match=r"u\.item:2: genre flag 'Action' is 2"):
        load_movielens_100k(root)
    root = _write_ml100k(tmp_path / "b", ["1\t1\t5\t100"])
    (root / "u.user").unlink()
    with pytest.raises(DatasetError) as err:
        load_movielens_100k(root)
    assert err.value.path == root / "u.user"
    assert "file not found" in str(err.value) and "u.genre" in str(err.value)


def test_movielens_1m_small(tmp_path: Path) -> None:
    (tmp_path / "movies.dat").write_bytes(
        (
            "1::Toy Story (1995)::Animation|Children's|Comedy\n"
            "2::Am\u00e9lie (2001)::Comedy|Romance\n"
        ).encode("latin-1")
    )
    (tmp_path / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    (tmp_path / "ratings.dat").write_text("1::1::5::978300760\n1::2::3::978302109\n2::2::4::1\n")
    ds = load_movielens_1m(tmp_path)
    assert (len(ds.users), len(ds.items), len(ds.interactions)) == (2, 2, 3)
    assert ds.items["title"].tolist() == ["Toy Story (1995)", "Am\u00e9lie (2001)"]
    assert ds.items["genres"].tolist() == [
        ("Animation", "Children's", "Comedy"),
        ("Comedy", "Romance"),
    ]
    assert ds.users["occupation"].tolist() == ["K-12 student", "self-employed"]
    assert ds.users["age"].tolist() == [1, 56]
    assert "Sci-Fi" in ds.meta["genres"]
    _assert_contract_dtypes(ds)

    (tmp_path / "ratings.dat").write_text("1::1::5::978300760\n1::2::3\n")
    with pytest.raises(DatasetError) as err:
        load_movielens_1m(tmp_path)
    assert str(err.value) == (
        f"{tmp_path / 'ratings.dat'}:2: expected 4 '::'-separated fields "
        "(user, movie, rating, timestamp), found 3"
    )


# --------------------------------------------------------------------------- load_dataset


def test_unknown_kind() -> None:
    with pytest.raises(DatasetError) as err:
        load_dataset("movielens-10m", "x")
    assert err.value.path == Path("movielens-10m")
    for kind in DATASET_KINDS:
        assert kind in str(err.value)


def test_missing_dir_lists_places_tried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECWORLD_DATA", str(tmp_path / "env"))
    with pytest.raises(DatasetError) as err:
        load_dataset("movielens-100k", "ml-100k-missing", data_dir=tmp_path / "dd")
    message = str(err.value)
    for place in (
        tmp_path / "ml-100k-missing",
        tmp_path / "dd" / "ml-100k-missing",
        tmp_path / "env" / "ml-100k-missing",
    ):
        assert str(place) in message
    assert "--data-dir" in message and "RECWORLD_DATA" in message


def test_path_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_ml100k(tmp_path / "env" / "ml", ["1\t1\t5\t100"])
    _write_ml100k(tmp_path / "dd" / "ml", ["1\t1\t5\t100", "2\t2\t3\t200"])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECWORLD_DATA", str(tmp_path / "env"))
    assert len(load_dataset("movielens-100k", "ml").interactions) == 1
    assert len(load_dataset("movielens-100k", "ml", data_dir="dd").interactions) == 2


def test_download_is_off_by_default_and_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RECWORLD_DATA", raising=False)
    monkeypatch.setattr(datasets, "CACHE_DIR", tmp_path / "cache")
    calls = []

    def offline(url, timeout=None):
        calls.append(url)
        raise urllib.error.URLError("network unreachable")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(DatasetError, match="dataset not found"):
        load_dataset("movielens-100k")
    assert calls == []
    with pytest.raises(DatasetError) as err:
        load_dataset("movielens-100k", download=True)
    assert calls == ["https://files.grouplens.org/datasets/movielens/ml-100k.zip"]
    assert "download failed" in str(err.value) and "--data-dir" in str(err.value)


def test_unknown_option_is_a_dataset_error() -> None:
    with pytest.raises(DatasetError, match=r"\['n_user'\].*n_users"):
        load_dataset("synthetic", n_user=5)


# --------------------------------------------------------------------------- RecBole, small


def test_recbole_atomic_files(tmp_path: Path) -> None:
    root = tmp_path / "toy"
    root.mkdir()
    (root / "toy.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\tlabel:float\n"
        "u1\ti1\t4\t881250949\t1\nu1\ti2\t2.5\t881250950.7\t\nu2\ti1\t5\t3\t0\n"
    )
    (root / "toy.item").write_text(
        "item_id:token\tmovie_title:token_seq\tclass:token_seq\trelease_year:token\n"
        "i1\tToy Story\tAnimation Comedy\t1995\ni2\tHeat\tCrime\t1995\ni3\tUnused\tDrama\t1990\n"
    )
    (root / "toy.user").write_text("user_id:token\tage:float\tgender:token\nu1\t24\tM\nu2\t\tF\n")
    ds = load_dataset("recbole", root)
    assert ds.interactions["timestamp"].tolist() == [881250949, 881250950, 3]
    assert ds.interactions["rating"].tolist() == [4.0, 2.5, 5.0]
    assert ds.interactions["label"].isna().tolist() == [False, True, False]
    assert ds.items["title"].tolist() == ["Toy Story", "Heat"]
    assert ds.items["genres"].tolist() == [("Animation", "Comedy"), ("Crime",)]
    assert ds.items["release_year"].tolist() == ["1995", "1995"]
    assert ds.users["age"].isna().tolist() == [False, True]
    assert ds.meta["timestamp"] == "unix"
    _assert_contract_dtypes(ds)
    assert len(load_recbole(root, keep_all_items=True).items) == 3


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("user_id:token\titem_id\n", "header column 2 'item_id' has no ':type' suffix"),
        ("user_id:token\titem_id:token\trating:number\n", "unknown type 'number'"),
    ],
)
def test_recbole_bad_header(tmp_path: Path, header: str, fragment: str) -> None:
    (tmp_path / "x.inter").write_text(header + "u1\ti1\t3\n")
    with pytest.raises(DatasetError) as err:
        load_recbole(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'x.inter'}:1: ")
    assert fragment in str(err.value)
    assert "token, token_seq, float, float_seq" in str(err.value)


def test_recbole_sequence_errors(tmp_path: Path) -> None:
    header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
    (tmp_path / "s.train.inter").write_text(header + "u\ta\tb\nu\ta b\tc\n")
    (tmp_path / "s.valid.inter").write_text(header + "u\ta b c\td\n")
    (tmp_path / "s.test.inter").write_text(header + "u\ta x c d\te\n")
    with pytest.raises(DatasetError) as err:
        load_recbole(tmp_path)
    assert err.value.path == tmp_path / "s.test.inter" and err.value.line == 2
    assert "does not continue" in str(err.value)

    (tmp_path / "s.test.inter").write_text(header + "u\tc d\te\n")  # truncated history: fine
    (tmp_path / "s.item").write_text(
        "item_id:token\ttitle:token_seq\n" + "".join(f"{i}\tT{i}\n" for i in "abcd")
    )
    with pytest.raises(DatasetError) as err:
        load_recbole(tmp_path)
    assert (err.value.path, err.value.line) == (tmp_path / "s.test.inter", 2)
    assert "item_id 'e' is not in s.item" in str(err.value)

    (tmp_path / "s.item").unlink()
    ds = load_recbole(tmp_path)
    assert ds.interactions["item_id"].tolist() == list("abcde")
    assert ds.interactions["split"].tolist() == ["train"] * 3 + ["valid", "test"]


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    st.lists(
        st.tuples(
            st.text(string.ascii_letters + "_", min_size=1, max_size=8),
            st.sampled_from(RECBOLE_TYPES),
        ),
        min_size=1,
        max_size=6,
        unique_by=lambda t: t[0],
    ),
    st.text(string.ascii_lowercase, min_size=1, max_size=6),
)
def test_recbole_header_parser_property(fields: list[tuple[str, str]], junk: str) -> None:
    header = [f"{name}:{kind}" for name, kind in fields]
    assert parse_recbole_header(header, "f.inter") == fields
    if junk not in RECBOLE_TYPES:
        bad = [*header[:-1], f"{fields[-1][0]}:{junk}"]
        with pytest.raises(DatasetError) as err:
            parse_recbole_header(bad, "f.inter")
        assert err.value.line == 1 and f"column {len(fields)}" in str(err.value)


# --------------------------------------------------------------------------- generic CSV


def test_csv_with_mapping(tmp_path: Path) -> None:
    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,stars,when,extra\na,m1,4.5,2020-01-01T00:00:10Z,x\nb,m2,,2020-01-02,y\n"
    )
    (tmp_path / "movies.csv").write_text(
        'movieId,title,genres,overview\nm1,"Heat, Again",Crime|Drama,"A ""cool"" film"\n'
        "m2,Up,Animation,\n"
    )
    ds = load_csv(
        tmp_path / "ratings.csv", items=tmp_path / "movies.csv",
        columns={"user_id": "userId", "item_id": "movieId", "rating": "stars",
                 "timestamp": "when", "description": "overview"},
    )  # fmt: skip
    assert ds.interactions["timestamp"].tolist() == [1577836810, 1577923200]
    assert ds.interactions["rating"].isna().tolist() == [False, True]
    assert ds.interactions["extra"].tolist() == ["x", "y"]
    assert ds.items["title"].tolist() == ["Heat, Again", "Up"]
    assert ds.items["genres"].tolist() == [("Crime", "Drama"), ("Animation",)]
    assert ds.items["description"].tolist() == ['A "cool" film', ""]
    assert ds.user_ids == ["a", "b"]
    _assert_contract_dtypes(ds)


def test_csv_errors(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text("item_id\ni1\n")
    (tmp_path / "interactions.csv").write_text("user_id,item_id\nu,i1\nu,i2\n")
    with pytest.raises(DatasetError) as err:
        load_dataset("csv", tmp_path)
    assert (err.value.path, err.value.line) == (tmp_path / "interactions.csv", 3)
    assert "item_id 'i2' is not in items.csv" in str(err.value)

    (tmp_path / "interactions.csv").write_text("user_id,item_id,timestamp\nu,i1,1\nu,i1,soon\n")
    with pytest.raises(DatasetError, match=r"interactions\.csv:3: timestamp 'soon'"):
        load_dataset("csv", tmp_path)

    # Found by the fuzz test: 1e309 parses as inf, 1e19 overflows int64 seconds.
    for wild in ("1e309", "-1e19"):
        (tmp_path / "interactions.csv").write_text(
            f"user_id,item_id,timestamp\nu,i1,1\nu,i1,{wild}\n"
        )
        with pytest.raises(
            DatasetError, match=rf"interactions\.csv:3: timestamp '{wild}' is out of range"
        ):
            load_dataset("csv", tmp_path)

    (tmp_path / "interactions.csv").write_text('user_id,item_id\nu,i1\n"v,w",i1,3\nu\n')
    with pytest.raises(DatasetError) as err:
        load_dataset("csv", tmp_path)
    assert err.value.line == 3
    assert "expected 2 comma-separated fields (user_id, item_id), found 3" in str(err.value)

    (tmp_path / "interactions.csv").write_text("user,item_id\nu,i1\n")
    with pytest.raises(DatasetError, match=r"csv:1: the header lacks column\(s\) \['user_id'\]"):
        load_dataset("csv", tmp_path)


def test_csv_without_timestamps_uses_ordinals(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("user_id;item_id\nu;a\nv;a\nu;b\n")
    ds = load_csv(path, sep=";")
    assert ds.interactions["timestamp"].tolist() == [0, 0, 1]
    assert ds.items["title"].tolist() == ["", ""]
    assert ds.meta["timestamp"] == "ordinal"


_ids = st.text(string.ascii_letters + string.digits + ' ,"|', min_size=1, max_size=6)


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(
    st.lists(
        st.tuples(_ids, _ids, st.integers(1, 5), st.integers(0, 2**40)), min_size=1, max_size=15
    )
)
def test_csv_round_trip_property(rows: list[tuple[str, str, int, int]]) -> None:
    frame = pd.DataFrame(rows, columns=["uid", "iid", "r", "t"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.csv"
        frame.to_csv(path, index=False)
        ds = load_csv(
            path, columns={"user_id": "uid", "item_id": "iid", "rating": "r", "timestamp": "t"}
        )
    assert ds.interactions["user_id"].tolist() == frame["uid"].tolist()
    assert ds.interactions["item_id"].tolist() == frame["iid"].tolist()
    assert ds.interactions["rating"].tolist() == [float(r) for r in frame["r"]]
    assert ds.interactions["timestamp"].tolist() == frame["t"].tolist()
    assert ds.user_ids == list(dict.fromkeys(frame["uid"]))


# --------------------------------------------------------------------------- synthetic


def test_synthetic_is_deterministic() -> None:
    a, b = generate_synthetic(seed=3), generate_synthetic(seed=3)
    for name in ("users", "items", "interactions"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    c = generate_synthetic(seed=4)
    assert not a.interactions.equals(c.interactions)
    assert not a.users["taste"].equals(c.users["taste"])


def test_synthetic_shape_and_realism() -> None:
    ds = generate_synthetic(n_users=200, n_items=500, n_genres=12, history_per_user=20, seed=0)
    _assert_contract_dtypes(ds)
    users, items, inter = ds.users, ds.items, ds.interactions
    assert len(users) == 200 and len(items) == 500 and len(ds.meta["genres"]) == 12
    assert 0.6 * 200 * 20 < len(inter) < 1.6 * 200 * 20
    for trait in ("activity", "conformity", "diversity"):
        assert set(users[trait]) == {"low", "medium", "high"}
    assert all(len(t) == 12 and abs(sum(t) - 1) < 1e-9 for t in users["taste"])
    assert all(1 <= len(g) <= 3 for g in items["genres"])
    assert all(
        all(g in d for g in gs) for gs, d in zip(items["genres"], items["description"], strict=True)
    )
    assert items["title"].is_unique
    assert inter["rating"].between(1, 5).all() and (inter["rating"] % 1 == 0).all()
    assert inter.groupby("user_id")["timestamp"].apply(lambda s: s.is_monotonic_increasing).all()
    assert not inter.duplicated(["user_id", "item_id"]).any()

    counts = inter["item_id"].value_counts()
    assert counts.head(len(items) // 10).sum() / len(inter) > 0.30  # long tail

    index = {g: i for i, g in enumerate(ds.meta["genres"])}
    taste = dict(zip(users["user_id"], users["taste"], strict=True))
    genres = dict(zip(items["item_id"], items["genres"], strict=True))
    weights = [
        np.mean([taste[u][index[g]] for g in genres[i]])
        for u, i in zip(inter["user_id"], inter["item_id"], strict=True)
    ]
    assert np.mean(weights) > 1.5 / 12  # well above the uniform baseline 1/12


def test_synthetic_rejects_bad_sizes() -> None:
    with pytest.raises(DatasetError, match="n_items must be an integer"):
        generate_synthetic(n_items=0)
    assert generate_synthetic(n_users=3, history_per_user=0).interactions.empty


def test_a_missing_dataset_says_where_it_looked_and_what_to_do(tmp_path, monkeypatch):
    from scenarios.datasets import resolve_path

    monkeypatch.setenv("RECWORLD_DATA", str(tmp_path / "data"))
    with pytest.raises(DatasetError, match="set RECWORLD_DATA=DIR") as relative:
        resolve_path("ml-100k")
    assert str(tmp_path / "data" / "ml-100k") in str(relative.value)
    # An absolute path is looked up nowhere else: the hint is to check it.
    with pytest.raises(DatasetError, match=r"dataset not found; tried .*; check the path$"):
        resolve_path(tmp_path / "nowhere")
