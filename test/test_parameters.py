"""One default per parameter: the schemas that nodes declare and offline tools read, every config the
package ships read through them, and a scan for any reader that gives a schema's parameter a default
of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mbrl_ros.core.control.exploration import EXPLORERS
from mbrl_ros.core.control.parameters import CONTROLLER_PARAMETERS, TASK_CHOICE, read_controller, read_planner, read_task
from mbrl_ros.core.models.learner import LEARNER_PARAMETERS, learner_configs
from mbrl_ros.core.models.training import TrainConfig
from mbrl_ros.core.policies.distill import DistillConfig
from mbrl_ros.core.policies.mbpo import MBPOConfig
from mbrl_ros.core.policies.parameters import POLICY_TRAINER_PARAMETERS, policy_configs
from mbrl_ros.core.params import ListOf, Param, ParameterError, in_range, node_parameters, read_parameters
from mbrl_ros.core.robots.commands import BOUNDED_COMMAND_PARAMETERS
from mbrl_ros.core.robots.robot import ROBOT_PARAMETERS
from mbrl_ros.core.sims import WORLDS
from mbrl_ros.core.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = {"controller": CONTROLLER_PARAMETERS, "task choice": TASK_CHOICE, "robot": ROBOT_PARAMETERS,
           "bounded commands": BOUNDED_COMMAND_PARAMETERS, "learner": LEARNER_PARAMETERS,
           "policy_trainer": POLICY_TRAINER_PARAMETERS,
           **{f"{name} task": kind.PARAMETERS for name, kind in TASKS.items()},
           **{f"{name} world": kind.PARAMETERS for name, kind in WORLDS.items()},
           **{f"{name} exploration": kind.PARAMETERS for name, kind in EXPLORERS.items()}}
NODES = ("sim", "logger", "trainer", "controller", "policy_trainer", "standin")


def test_values_are_widened_defaulted_and_checked_with_the_parameters_name():
    schema = {"rate": Param(20.0, "control rate", in_range(1.0, 100.0)), "names": Param(ListOf(str), "joints")}
    assert read_parameters(schema, {"rate": 50}) == {"rate": 50.0, "names": []}
    with pytest.raises(ParameterError, match=r"'rate' = 500.0 must be in \[1.0, 100.0\] \(control rate\)"):
        read_parameters(schema, {"rate": 500})
    with pytest.raises(ParameterError, match="'rate' = 'fast' must be float"):
        read_parameters(schema, {"rate": "fast"})
    with pytest.raises(ParameterError, match="'names' = \\[1\\] must be a list of str"):
        read_parameters(schema, {"names": [1]})


@pytest.mark.parametrize("config", sorted((ROOT / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_reads_through_the_schemas(config):
    """Each node's section, through the schemas of what it builds: right types, within range."""
    for node in NODES:
        given = node_parameters(config, node)
        if not given.get("urdf"):
            continue
        read_parameters(ROBOT_PARAMETERS, given)
        if node == "trainer":
            model, training = learner_configs(read_parameters(LEARNER_PARAMETERS, given))
            assert training.max_epochs == given.get("max_epochs", TrainConfig.max_epochs)
        def declare(schema):
            return read_parameters(schema, given)

        if node == "controller":
            read_controller(declare)
        if node == "policy_trainer":
            distill, _ = policy_configs(read_parameters(POLICY_TRAINER_PARAMETERS, given))
            assert distill.check_steps == given.get("check_steps", DistillConfig.check_steps)
            read_task(declare)
            read_planner(declare)
        if node == "sim":
            read_parameters(WORLDS[given.get("world", "fixed_base")].PARAMETERS, given)


def test_the_learners_defaults_are_the_dataclasses():
    model, training = learner_configs(read_parameters(LEARNER_PARAMETERS, {}))
    assert training == TrainConfig() and (model.members, model.hidden, model.layers) == (5, 200, 3)


def test_the_policy_trainers_defaults_are_the_dataclasses():
    assert policy_configs(read_parameters(POLICY_TRAINER_PARAMETERS, {})) == (DistillConfig(), MBPOConfig())


def own_defaults(source: str) -> list[tuple[int, str, object, object]]:
    """(line, name, default given, schema default) for each `.get("name", constant)` or
    `.param("name", constant, ...)` of a schema's parameter whose default is not the schema's. (A
    name two components share, such as `seed`, must then mean the same in both.)"""
    defaults = {name: p.default for schema in SCHEMAS.values() for name, p in schema.items()}
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "param")
                and len(node.args) >= 2 and all(isinstance(a, ast.Constant) for a in node.args[:2])
                and node.args[0].value in defaults and node.args[1].value != defaults[node.args[0].value]):
            found.append((node.lineno, node.args[0].value, node.args[1].value, defaults[node.args[0].value]))
    return found


def test_the_scan_finds_a_reader_with_a_default_of_its_own():
    assert own_defaults('params.get("command_scale", 1.0)') == [(1, "command_scale", 1.0, 0.5)]
    assert own_defaults('self.param("max_epochs", 50, "epochs")') == [(1, "max_epochs", 50, 60)]
    assert own_defaults('params.get("command_scale", 0.5)\nparams.get("not_a_parameter", 3)') == []


def test_no_reader_gives_a_schema_parameter_a_default_of_its_own():
    files = [*(ROOT / "mbrl_ros").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")]
    found = [f"{path.relative_to(ROOT)}:{line}: {name}: {given!r}, schema {default!r}"
             for path in files for line, name, given, default in own_defaults(path.read_text())]
    assert not found, "\n".join(found)
