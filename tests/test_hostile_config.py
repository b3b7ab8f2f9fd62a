"""Issue 19 (part A): configs, YAML and `adaptx search` refuse hostile and malformed input with a
message naming the file, line or field, fast, without tracebacks and without leaving folders behind."""

import time
import tracemalloc

import optuna
import pytest
import yaml

from helpers import deadline
from adaptx.cli import main
from adaptx.config import load_config, parse_override
from adaptx.errors import AdaptxError
from adaptx.safe_yaml import MAX_ALIASES, load_yaml, safe_load
from adaptx.search import run_search
from adaptx.search_space import parse_search
from adaptx.zoo_stage_card import _run_config
from tiny_data import write_tiny_data


def laughs(key: str = "name", levels: int = 9) -> str:
    """The "billion laughs": 9 levels of 9 aliases each, ~400 bytes, 9**9 strings once expanded."""
    lines = ["search:", '  x0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"  x{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + f"\n{key}: *a{levels - 1}\n"


def refusal(path) -> str:
    with pytest.raises(AdaptxError) as err:
        load_config(path)
    return str(err.value)


# -- the safe YAML loader ------------------------------------------------------------------------------

def test_billion_laughs_is_refused_at_once_without_memory_growth(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(laughs())
    assert len(path.read_bytes()) < 500
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with deadline(5):
            message = refusal(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MiB"
    assert message.startswith(f"{path}: line ") and "billion laughs" in message and len(message) < 400


@pytest.mark.parametrize("command", ["run", "search"])
def test_billion_laughs_through_the_cli_is_one_error_line(tmp_path, capsys, command):
    path = tmp_path / "laughs.yaml"
    path.write_text(laughs("languages"))
    with deadline(20):
        assert main([command, str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"adaptx: error: {path}: line ") and "Traceback" not in err and len(err) < 400


def test_a_duplicate_key_names_both_lines(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("target_task: xnli\ntrain:\n  target_steps: 5\nname: x\ntrain:\n  batch_size: 8\n")
    message = refusal(path)
    assert message.startswith(f"{path}: line 5: key 'train' is given twice") and "first on line 2" in message


def test_a_duplicate_key_inside_a_section_and_in_an_override_is_refused():
    with pytest.raises(AdaptxError, match=r"x.yaml: line 3: key 'target_steps' is given twice .*first on line 2"):
        load_yaml("train:\n  target_steps: 5\n  target_steps: 6\n", "x.yaml")
    with pytest.raises(AdaptxError, match=r"override 'train=\{a: 1, a: 2\}': value: line 1: key 'a' is given twice"):
        parse_override("train={a: 1, a: 2}")


def test_normal_anchors_aliases_and_merge_overrides_still_load(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "intermediate_tasks: &pool [qqp, sst2]\n"
        "target_task: xnli\n"
        "train: {<<: &small {target_steps: 5, batch_size: 8}, target_steps: 7}\n"  # a merged key overridden
        "search:\n  adapters: *pool\n  compositions: [stack, fuse]\n")
    cfg = load_config(path)
    assert cfg.train.target_steps == 7 and cfg.train.batch_size == 8
    assert parse_search(cfg, str(path)).adapters == ["qqp", "sst2"]


@pytest.mark.parametrize("text, message", [
    ("a: &a [1, *a]\n", "line 1: alias *a is used inside its own anchor &a"),
    ("a: " + "[" * 70 + "]" * 70 + "\n", "line 1: lists or mappings nested more than 64 deep"),
    ("a: " + "[" * 100000 + "\n", "nested more than 64 deep"),
    ("a: &x 1\n" + "".join(f"b{i}: *x\n" for i in range(MAX_ALIASES + 1)), f"more than {MAX_ALIASES} aliases"),
    ("a: [1\n", "not valid YAML"),
])
def test_hostile_documents_are_refused_naming_the_line(text, message):
    with deadline(5), pytest.raises(AdaptxError) as err:
        load_yaml(text, "f.yaml")
    assert str(err.value).startswith("f.yaml: ") and message in str(err.value)


def test_an_override_cannot_smuggle_a_billion_laughs_in():
    levels = "".join(f", &{c} [{','.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi"))
    value = f"[&a [x,x,x,x,x,x,x,x,x]{levels}]"  # the same document in one flow-style line
    with deadline(5), pytest.raises(AdaptxError, match="billion laughs"):
        parse_override(f"languages={value}")


def test_messages_show_a_long_value_cut_short(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump({"name": list(range(5000)), "target_task": "xnli"}))
    message = refusal(path)
    assert "name: expected str, got list [0, 1, 2" in message and len(message) < 300


def test_keys_of_mixed_types_are_an_error_not_a_traceback(tmp_path):
    path = tmp_path / "keys.yaml"
    path.write_text("1: a\nfoo: b\n")  # sorting 1 and 'foo' raised TypeError
    assert "1: unknown key; allowed keys here: name, " in refusal(path)


def test_the_zoo_reads_a_hostile_run_config_as_none(tmp_path):
    stage = tmp_path / "run" / "stages" / "target-xnli-abc"
    stage.mkdir(parents=True)
    (tmp_path / "run" / "config.yaml").write_text(laughs())
    with deadline(5):
        assert _run_config(stage) == {}
    with pytest.raises(yaml.YAMLError):  # the zoo's `except yaml.YAMLError` covers the loader's refusals
        safe_load(laughs())


# -- the search section ---------------------------------------------------------------------------------

def search_config(tmp_path, search, **extra):
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump({"intermediate_tasks": ["qqp", "sst2"], "target_task": "xnli", **extra,
                                    "search": {"compositions": ["stack"], **search}}))
    return path


@pytest.mark.parametrize("step", [0.5, 1.5])
def test_an_integer_range_needs_a_whole_step(tmp_path, step):
    path = search_config(tmp_path, {"space": {"train.target_steps": {"low": 10, "high": 20, "step": step}}})
    message = refusal(path)
    assert "search.space.train.target_steps.step: low and high are whole numbers" in message
    assert f"got {step}" in message and "10.0, 20.0" in message


def test_an_integer_range_with_a_whole_step_suggests_its_multiples(tmp_path):
    path = search_config(tmp_path, {"space": {"train.target_steps": {"low": 10, "high": 20, "step": 5.0}}})
    spec = parse_search(load_config(path), str(path))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    values = {spec.suggest(study.ask())[2]["train.target_steps"] for _ in range(30)}
    assert values == {10, 15, 20}


@pytest.mark.parametrize("timeout", [".nan", ".inf", "-1", "0"])
def test_the_search_timeout_must_be_finite_and_positive(tmp_path, timeout):
    path = search_config(tmp_path, {})
    path.write_text(path.read_text().replace("search:\n", f"search:\n  timeout: {timeout}\n"))
    assert "search.timeout: expected a finite number of seconds > 0, or null for no limit" in refusal(path)


def test_a_nan_timeout_is_refused_by_the_cli_and_by_run_search(tmp_path, capsys):
    with pytest.raises(SystemExit) as code:
        main(["search", "any.yaml", "--timeout", "nan"])
    assert code.value.code == 2
    assert "argument --timeout: expected a finite number of seconds > 0, got 'nan'" in capsys.readouterr().err
    path = search_config(tmp_path, {})
    with pytest.raises(AdaptxError, match="--timeout: expected a finite number of seconds > 0, got nan"):
        run_search(path, out_dir=tmp_path / "run", timeout=float("nan"))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["..", ".", "a/b", "a_b/../..", "with space", "", "x" * 81, "-lead"])
def test_study_names_follow_the_zoo_rule(tmp_path, capsys, name):
    message = refusal(search_config(tmp_path, {"study": name}))
    assert "search.study: " in message and "is not a study name: expected 1-80 letters, digits" in message
    with pytest.raises(AdaptxError, match="^--study: .* is not a study name"):
        run_search(search_config(tmp_path, {}), out_dir=tmp_path / "run", study_name=name)
    assert not (tmp_path / "run").exists()
    with pytest.raises(SystemExit):
        main(["search", "any.yaml", "--study", name])
    assert "argument --study: " in capsys.readouterr().err


def test_a_config_name_that_cannot_name_a_study_says_how_to_choose_one(tmp_path):
    path = search_config(tmp_path, {}, name="my run v1.2")
    with pytest.raises(AdaptxError, match=r"search.yaml: name \(the default study name; set search.study or pass "
                                          r"--study\): 'my run v1.2' is not a study name"):
        run_search(path, out_dir=tmp_path / "run")


# -- storages refused without a traceback or a new run folder ------------------------------------------------

@pytest.fixture
def tiny_search(tmp_path, tiny_model_dir, adaptx_home):
    data = write_tiny_data(tmp_path / "data")
    path = search_config(tmp_path, {"trials": 1, "pruner": "none"}, base_model=str(tiny_model_dir),
                         languages=["en", "de"], max_seq_length=16, strategies=["stack"],
                         train={"intermediate_steps": 1, "target_steps": 1, "batch_size": 4},
                         data={"max_eval_examples": 4, "max_dev_examples": 4})
    return path, data


@pytest.mark.parametrize("content", [b"hello\nnot json\n", b'{"a": 1}\n', b"[1, 2]\n", b'{"op_code": 99}\n',
                                     b"SQLite format 3\x00\xff\xfe\x00"])
def test_a_journal_storage_on_a_file_that_is_no_journal_is_refused(tiny_search, tmp_path, content):
    config, data = tiny_search
    journal = tmp_path / "notes.txt"
    journal.write_bytes(content)
    out = tmp_path / "new" / "run"
    with pytest.raises(AdaptxError, match=f"--storage journal:{journal}: {journal} is not an Optuna journal file"):
        run_search(config, data_dir=data, out_dir=out, storage=f"journal:{journal}")
    assert not (tmp_path / "new").exists()  # the run folder (and its new parent) made for the study: gone
    assert journal.read_bytes() == content


def test_a_refused_storage_leaves_no_empty_run_folder_but_keeps_an_existing_one(tiny_search, tmp_path):
    config, data = tiny_search
    out = tmp_path / "run"
    with pytest.raises(AdaptxError, match="not a database URL"):
        run_search(config, data_dir=data, out_dir=out, storage="no-such-scheme")
    assert not out.exists()
    out.mkdir()
    with pytest.raises(AdaptxError, match="not a database URL"):
        run_search(config, data_dir=data, out_dir=out, storage="no-such-scheme")
    assert out.is_dir()  # it was there before: not this call's to remove
