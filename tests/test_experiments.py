"""seqrnn experiment: every study runs in --quick form and reports; finished runs are skipped."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from cli.main import app, main
from seqrnn import experiments
from seqrnn.experiments import STUDIES, Frequency, Outcome, framework, make_study, run_study

pytestmark = pytest.mark.tf_only


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "novel.txt"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 60, encoding="utf-8")
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(STUDIES))
def test_every_study_runs_quick_and_writes_its_report(name, text, tmp_path):
    study = make_study(name, quick=True, data=text if STUDIES[name].needs_text else None)
    report = run_study(study, tmp_path)
    body = report.read_text(encoding="utf-8")
    assert body.startswith(f"# {study.title}") and "Quick run" in body
    assert "| --- |" in body  # at least one table
    for spec in study.specs():
        result = json.loads((tmp_path / "runs" / spec.key / "result.json").read_text())
        assert result["by_step"] and "loss" in result
    for line in body.splitlines():
        if line.startswith("!["):  # every plot the report shows was written as a PNG
            png = tmp_path / line.split("(")[1].rstrip(")")
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_a_second_run_skips_finished_runs_and_resumes_an_unmeasured_one(tmp_path, monkeypatch):
    study = make_study("palindrome", quick=True)
    first = run_study(study, tmp_path).read_text()
    key = study.specs()[0].key
    (tmp_path / "runs" / key / "result.json").unlink()  # as if stopped before measuring
    trained = []
    original = framework._train

    def spy(config, path, steps, on_event):
        trained.append(path.name)
        original(config, path, steps, on_event)

    monkeypatch.setattr(framework, "_train", spy)
    second = run_study(study, tmp_path).read_text()
    assert trained == [key]  # only the unmeasured run, resumed from its checkpoint
    assert second == first
    rows = (tmp_path / "runs" / key / "metrics.csv").read_text().splitlines()[1:]
    steps = [int(r.split(",")[0]) for r in rows]
    assert steps == sorted(set(steps))  # no metrics row twice


def _one_run(study, **changes):
    """The study's first run alone, with `changes` to its Spec (config entries under config)."""
    spec = study.specs()[0]
    config = {**spec.config, **changes.pop("config", {})}
    return dataclasses.replace(spec, config=config, **changes)


def test_a_run_whose_settings_changed_is_set_aside_and_trained_again(tmp_path, monkeypatch):
    study = make_study("palindrome", quick=True)
    spec = _one_run(study)
    monkeypatch.setattr(study, "specs", lambda: [spec])
    run_study(study, tmp_path)
    run = tmp_path / "runs" / spec.key
    old_result = (run / "result.json").read_text()

    changed = _one_run(study, config={"lr": spec.config.get("lr", 2e-3) * 2})
    monkeypatch.setattr(study, "specs", lambda: [changed])
    events = []
    run_study(study, tmp_path, on_event=lambda kind, data: events.append((kind, data)))
    outdated = [data for kind, data in events if kind == "outdated"]
    assert len(outdated) == 1 and "lr" in outdated[0]["why"]
    kept = tmp_path / "runs" / f"{spec.key}.outdated"
    assert (kept / "result.json").read_text() == old_result  # nothing lost
    assert json.loads((run / "config.json").read_text())["lr"] == changed.config["lr"]
    assert json.loads((run / "result.json").read_text())["by_step"]

    # a config.json written before a setting existed holds its default: still the same run
    from seqrnn.settings import TrainConfig

    defaults = dataclasses.asdict(TrainConfig())
    saved = json.loads((run / "config.json").read_text())
    older = {k: v for k, v in saved.items() if k not in defaults or v != defaults[k]}
    assert len(older) < len(saved)
    (run / "config.json").write_text(json.dumps(older))
    events.clear()  # a third run with the same settings trains nothing
    run_study(study, tmp_path, on_event=lambda kind, data: events.append((kind, data)))
    assert [kind for kind, _ in events] == ["run"]


def test_a_run_the_study_now_takes_further_is_resumed(tmp_path, monkeypatch):
    study = make_study("palindrome", quick=True)
    spec = _one_run(study)
    steps = spec.config["steps"]
    monkeypatch.setattr(study, "specs", lambda: [spec])
    run_study(study, tmp_path)
    longer = _one_run(study, checkpoints=(steps, 2 * steps), config={"steps": 2 * steps})
    monkeypatch.setattr(study, "specs", lambda: [longer])
    events = []
    run_study(study, tmp_path, on_event=lambda kind, data: events.append((kind, data)))
    starts = [data["step"] for kind, data in events if kind == "start"]
    assert starts == [steps]  # resumed where it stopped, not trained from 0
    assert not any(kind == "outdated" for kind, _ in events)
    result = json.loads((tmp_path / "runs" / spec.key / "result.json").read_text())
    assert list(result["by_step"]) == [str(steps), str(2 * steps)]
    rows = (tmp_path / "runs" / spec.key / "metrics.csv").read_text().splitlines()[1:]
    logged = [int(r.split(",")[0]) for r in rows]
    assert logged == sorted(set(logged)) and logged[-1] == 2 * steps


def test_runs_selects_part_of_a_grid(tmp_path):
    out = tmp_path / "palindrome"
    args = ["experiment", "palindrome", "--quick", "--out", str(out), "--runs", "phased-*"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["phased-T5"]
    rows = [line for line in (out / "report.md").read_text().splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[0] for r in rows[2:]] == ["| phased"]  # header, rule, one cell


@pytest.mark.parametrize(
    "args, message",
    [
        (["experiment", "sorting"], "unknown study 'sorting'"),
        (["experiment", "optimizers"], "pass --data (a UTF-8 text file)"),
        (["experiment", "optimizers", "--data", "/no/such.txt"], "is not a file"),
        (["experiment", "palindrome", "--runs", "gru-T7*"], "no run of study palindrome matches"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_cli_runner_runs_a_quick_study_and_prints_the_report_path(tmp_path, monkeypatch):
    out = tmp_path / "palindrome"
    args = ["experiment", "palindrome", "--quick", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out / "report.md") and (out / "report.md").exists()

    # the study changes a run's settings: the run is set aside, said so on stderr, trained again
    specs = experiments.Palindrome.specs
    first = specs(make_study("palindrome", quick=True))[0]

    def changed(study):
        return [
            dataclasses.replace(s, config={**s.config, "lr": 0.004}) if s.key == first.key else s
            for s in specs(study)
        ]

    monkeypatch.setattr(experiments.Palindrome, "specs", changed)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"run {first.key}: its settings changed: lr" in result.stderr
    assert f"moved to {out / 'runs' / first.key}.outdated" in result.stderr
    assert result.stdout.strip() == str(out / "report.md")


def test_frequency_report_says_how_far_the_lstms_stay_behind_the_phased_lstm():
    study = make_study("frequency")
    specs = {spec.key: spec for spec in study.specs()}
    assert specs["lstm_elapsed-async"].config["task_settings"]["time_features"] == "elapsed"
    assert "time_features" not in specs["lstm-async"].config["task_settings"]
    accuracy = {"phased-async": 0.975, "lstm-async": 0.9656, "lstm_elapsed-async": 0.62}
    outcomes = [Outcome(specs[key], {"accuracy": value}, []) for key, value in accuracy.items()]
    line = Frequency._lstm_gap(outcomes)
    assert line == (
        "LSTM on asynchronous sampling: 96.6% reading elapsed time and gap "
        "(0.9 points behind the Phased LSTM); 62.0% reading elapsed time only "
        "(35.5 points behind the Phased LSTM)."
    )
    assert "not measured" in Frequency._lstm_gap(outcomes[1:])


def test_grammars_report_names_the_training_settings_of_each_grammar():
    study = make_study("grammars")
    lines = [study._settings(Outcome(spec, {}, [])) for spec in study.specs()]
    assert lines == [
        "ndfa: 4000 steps of batch 256, lr 0.003 x 0.5 per 800 steps",
        "brackets: 2000 steps of batch 32, lr 0.002",
        "toy: 2000 steps of batch 32, lr 0.002",
    ]
