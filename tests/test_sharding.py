"""Rows sharded over devices and over the processes of a ``jax.distributed`` job (``devices=``): the same fits as
on one device. JAX fixes its device count and its distributed runtime when it starts, so the fits run in their own
processes (``tests/sharding_scripts.py``), started together at the first test that needs them: one on 4 forced
host devices (``XLA_FLAGS=--xla_force_host_platform_device_count=4``), two forming a job on localhost."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

import mixjax

SCRIPT = Path(__file__).with_name("sharding_scripts.py")
TOL = 1e-10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


class _Runs:
    """The three processes, started once; ``result(name)`` waits for one and reads its JSON."""

    def __init__(self, folder: Path):
        env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
        port = str(_free_port())
        self.procs = {
            "devices": self._start(["devices"], folder / "devices.json",
                                   env | {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}),
            "process0": self._start(["process", "0", port], folder / "p0.json", env),
            "process1": self._start(["process", "1", port], folder / "p1.json", env),
        }

    @staticmethod
    def _start(args, out: Path, env):
        proc = subprocess.Popen([sys.executable, str(SCRIPT), *args, str(out)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        return proc, out

    def result(self, name: str) -> dict:
        proc, out = self.procs[name]
        try:
            log, _ = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        assert proc.returncode == 0, log[-4000:]
        return json.loads(out.read_text())

    def stop(self):
        for proc, _ in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    r = _Runs(tmp_path_factory.mktemp("sharding"))
    yield r
    r.stop()


@pytest.fixture(scope="module")
def four(runs):
    return runs.result("devices")


def _check(diff: dict):
    assert diff["names"]
    assert diff["nobs"][0] == diff["nobs"][1]
    assert diff["loglik"] < TOL and diff["fixef"] < TOL and diff["theta"] < TOL, diff


@pytest.mark.parametrize("case", ["sleepstudy", "sleepstudy_uneven", "penicillin", "penicillin_uneven"])
def test_lmm_on_four_devices_equals_one(four, case):
    _check(four[case])


def test_crossproducts_from_sharded_rows(four):
    """Penicillin's crossed coupling, 141 rows over 4 devices: the same sparse structure, the same values."""
    assert four["crossproducts_structure_equal"]
    assert four["crossproducts_max_rel"] < 1e-13


def test_glmm_on_three_devices_equals_one(four):
    _check(four["cbpp"])


def test_glmm_rows_are_split_over_the_devices(four):
    rows = four["glmm_rows"]  # cbpp's 56 rows on 3 devices: 57, one padded row of weight 0
    assert rows["n_pad"] == 57 and not rows["replicated"]
    assert rows["shards"] == 3 and rows["devices"] == 3 and rows["shard_rows"] == [19, 19, 19]
    assert rows["padded_weights"] == [0.0] and rows["real_weights_equal"]


def test_lmm_many_on_four_devices_equals_one(four):
    diff = four["lmm_many"]
    assert diff["loglik"] < TOL and diff["fixef"] < TOL and diff["theta"] < TOL, diff


def _close(a: dict, fit):
    assert a["nobs"] == fit.nobs
    assert abs(a["loglik"] - fit.loglik) < TOL
    assert np.max(np.abs(np.array(a["fixef"]) - fit.fixef.to_numpy())) < TOL
    assert np.max(np.abs(np.array(a["theta"]) - fit.theta.to_numpy())) < TOL


def test_two_processes_equal_one_process_on_all_rows(runs):
    p0, p1 = runs.result("process0"), runs.result("process1")
    assert p0["processes"] == p1["processes"] == 2 and p0["devices"] == 2
    rows0, rows1 = p0["penicillin"].pop("own_rows"), p1["penicillin"].pop("own_rows")
    assert p0 == p1  # the same numbers, bit for bit, in both processes
    p0["penicillin"]["own_rows"], p1["penicillin"]["own_rows"] = rows0, rows1
    pen = mixjax.lmm("diameter ~ 1 + (1|plate) + (1|sample)", mixjax.datasets.load("Penicillin"))
    _close(p0["penicillin"], pen)
    assert np.max(np.abs(np.array(p0["penicillin"]["ranef"]) - pen.ranef["plate"].to_numpy().ravel())) < 1e-8
    assert p0["penicillin"]["own_rows"] == [70, 70, 70] and p1["penicillin"]["own_rows"] == [74, 74, 74]
    cbpp = mixjax.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", mixjax.datasets.load("cbpp"),
                       family="binomial")
    _close(p0["cbpp"], cbpp)
    assert np.max(np.abs(np.array(p0["cbpp"]["ranef"]) - cbpp.ranef["herd"].to_numpy().ravel())) < 1e-8


# ------------------------------------------------------------------------------------------ one device, in process


def test_devices_none_is_the_default_path():
    sleep = mixjax.datasets.load("sleepstudy")
    a = mixjax.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    b = mixjax.lmm("Reaction ~ Days + (Days | Subject)", sleep, devices=None)
    assert a.loglik == b.loglik and np.array_equal(a.theta, b.theta) and np.array_equal(a.fixef, b.fixef)


@pytest.mark.parametrize("devices, message", [
    (3, "devices= takes 'all'"),
    ("gpu", "devices= takes 'all'"),
    ([], "devices= takes 'all'"),
    ([jax.devices()[0], jax.devices()[0]], "more than once"),
    (jax.sharding.Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("a", "b")), "one-dimensional Mesh"),
])
def test_bad_devices_raise_before_any_work(devices, message):
    for call in (lambda: mixjax.lmm("y ~ x + (1 | g)", None, devices=devices),  # data not even read
                 lambda: mixjax.glmm("y ~ x + (1 | g)", None, family="nonsense", devices=devices),
                 lambda: mixjax.lmm_many("~ x + (1 | g)", None, None, devices=devices)):
        with pytest.raises(ValueError, match=message):
            call()


def test_devices_with_residual_structures_or_relmat_raise():
    sleep = mixjax.datasets.load("sleepstudy")
    with pytest.raises(ValueError, match="residual structures"):
        mixjax.lmm("Reaction ~ Days + (1 | Subject)", sleep, devices="all",
                   correlation=mixjax.corAR1(form="~ Days | Subject"))
    K = pd.DataFrame(np.eye(18), index=sleep["Subject"].cat.categories, columns=sleep["Subject"].cat.categories)
    with pytest.raises(ValueError, match="relmat="):
        mixjax.lmm("Reaction ~ Days + (1 | Subject)", sleep, devices="all", relmat={"Subject": K})


def test_two_processes_refuse_what_they_cannot_agree_on(runs):
    errors = runs.result("process0")["errors"]
    assert "not available for fits over several processes" in errors["condvar"]
    assert "column 'plate' differs in type or categories between processes" in errors["categories"]
    assert "rank deficient on the rows of process(es) 0, 1" in errors["rank"]
