"""The demo's decision of when the goals are measured, from the nodes' /diagnostics."""

from mbrl_ros.demo import commanding_as_measured


def status(commands_from: str, plan_too_slow: bool | None = None, policy_version: str = "0",
           learned_version: str = "0", trainer_policy: str = "0") -> dict:
    controller = {"model_version": "4", "commands_from": commands_from, "policy_version": policy_version}
    if plan_too_slow is not None:
        controller["plan_too_slow"] = str(plan_too_slow)
    return {"controller": controller,
            "policy_trainer": {"learned_version": learned_version, "policy_version": trainer_policy}}


def test_with_policy_auto_a_planner_that_keeps_up_is_measured():
    assert commanding_as_measured("auto", status("planner", plan_too_slow=False), False)
    assert commanding_as_measured("auto", status("planner"), False), "plans not fitted: the configured plan"


def test_with_policy_auto_plans_that_fall_short_wait_for_the_policy_of_the_controllers_model():
    assert not commanding_as_measured("auto", status("planner", plan_too_slow=True), False)
    assert not commanding_as_measured("auto", status("explorer", plan_too_slow=True), False)
    assert not commanding_as_measured("auto", status("policy", plan_too_slow=True, policy_version="3"), True), \
        "an earlier model's policy"
    assert commanding_as_measured("auto", status("policy", plan_too_slow=True, policy_version="4"), True)
    assert commanding_as_measured("auto", status("planner", plan_too_slow=True, learned_version="4",
                                                 trainer_policy="3"), False), \
        "the model's policy failed its check: what flies now is measured"


def test_with_act_or_propose_the_first_policy_is_awaited():
    assert not commanding_as_measured("act", status("planner", plan_too_slow=False), False)
    assert commanding_as_measured("propose", status("planner"), True)
