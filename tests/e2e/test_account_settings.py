"""Account settings: ListAccountSettings, PutAccountSetting, PutAccountSettingDefault, DeleteAccountSetting,
through boto3 and the AWS CLI, and containerInsights as a new cluster's default."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from helpers import ACCOUNT, error_code, http_status, make_client

ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/deployer"

DEFAULTS = {
    "serviceLongArnFormat": "enabled",
    "taskLongArnFormat": "enabled",
    "containerInstanceLongArnFormat": "enabled",
    "awsvpcTrunking": "disabled",
    "containerInsights": "disabled",
    "fargateFIPSMode": "disabled",
    "tagResourceAuthorization": "on",
    "fargateTaskRetirementWaitPeriod": "7",
    "guardDutyActivate": "off",
    "defaultLogDriverMode": "non-blocking",
    "fargateEventWindows": "disabled",
}


def all_settings(ecs, **kw):
    out, token = [], None
    while True:
        page = ecs.list_account_settings(**kw, **({"nextToken": token} if token else {}))
        out.extend(page["settings"])
        token = page.get("nextToken")
        if not token:
            return out


def test_effective_settings_are_ecs_defaults(ecs):
    settings = all_settings(ecs, effectiveSettings=True)
    assert {s["name"]: s["value"] for s in settings} == DEFAULTS
    assert all(s["principalArn"] == ROOT for s in settings)
    assert {s["name"]: s["type"] for s in settings}["guardDutyActivate"] == "aws_managed"
    # Nothing was set explicitly.
    assert ecs.list_account_settings()["settings"] == []


def test_list_pages_at_most_ten(ecs):
    first = ecs.list_account_settings(effectiveSettings=True)
    assert len(first["settings"]) == 10 and "nextToken" in first
    second = ecs.list_account_settings(effectiveSettings=True, nextToken=first["nextToken"])
    assert [s["name"] for s in second["settings"]] == ["fargateEventWindows"]
    assert "nextToken" not in second
    pages = list(ecs.get_paginator("list_account_settings").paginate(
        effectiveSettings=True, PaginationConfig={"PageSize": 4}))
    assert [len(p["settings"]) for p in pages] == [4, 4, 3]


def test_put_default_then_principal_override(ecs):
    s = ecs.put_account_setting_default(name="awsvpcTrunking", value="enabled")["setting"]
    assert s == {"name": "awsvpcTrunking", "value": "enabled", "principalArn": ROOT, "type": "user"}
    s = ecs.put_account_setting(name="awsvpcTrunking", value="disabled", principalArn=ALICE)["setting"]
    assert s["principalArn"] == ALICE and s["value"] == "disabled"
    # Alice has her own value; a role without one gets the account default; the root has the default.
    [a] = ecs.list_account_settings(name="awsvpcTrunking", principalArn=ALICE, effectiveSettings=True)["settings"]
    assert a["value"] == "disabled"
    [r] = ecs.list_account_settings(name="awsvpcTrunking", principalArn=ROLE, effectiveSettings=True)["settings"]
    assert r["value"] == "enabled" and r["principalArn"] == ROLE
    assert ecs.list_account_settings(name="awsvpcTrunking", principalArn=ROLE)["settings"] == []
    [mine] = ecs.list_account_settings(principalArn=ALICE)["settings"]
    assert mine["name"] == "awsvpcTrunking"
    # value filters.
    assert ecs.list_account_settings(name="awsvpcTrunking", value="enabled", principalArn=ALICE,
                                     effectiveSettings=True)["settings"] == []
    # Deleting Alice's value gives her the default again, and answers with what was removed.
    d = ecs.delete_account_setting(name="awsvpcTrunking", principalArn=ALICE)["setting"]
    assert d["value"] == "disabled" and d["principalArn"] == ALICE
    [a] = ecs.list_account_settings(name="awsvpcTrunking", principalArn=ALICE, effectiveSettings=True)["settings"]
    assert a["value"] == "enabled"
    # Deleting the root's value returns to ECS's default.
    ecs.delete_account_setting(name="awsvpcTrunking")
    [a] = ecs.list_account_settings(name="awsvpcTrunking", principalArn=ALICE, effectiveSettings=True)["settings"]
    assert a["value"] == "disabled"


def test_put_without_principal_is_for_the_root(ecs):
    s = ecs.put_account_setting(name="tagResourceAuthorization", value="off")["setting"]
    assert s["principalArn"] == ROOT
    [e] = ecs.list_account_settings(name="tagResourceAuthorization", principalArn=ROLE,
                                    effectiveSettings=True)["settings"]
    assert e["value"] == "off"


def test_settings_survive_restart_and_are_per_region(ecsd, ecs):
    ecs.put_account_setting_default(name="containerInsights", value="enhanced")
    ecsd.restart()
    ecs = make_client(ecsd)
    [s] = ecs.list_account_settings(name="containerInsights", effectiveSettings=True)["settings"]
    assert s["value"] == "enhanced"
    west = make_client(ecsd, region="eu-west-1")
    [w] = west.list_account_settings(name="containerInsights", effectiveSettings=True)["settings"]
    assert w["value"] == "disabled"


def test_container_insights_is_a_new_clusters_default(ecs):
    assert ecs.create_cluster(clusterName="before")["cluster"]["settings"] == [
        {"name": "containerInsights", "value": "disabled"}]
    ecs.put_account_setting_default(name="containerInsights", value="enabled")
    c = ecs.create_cluster(clusterName="after")["cluster"]
    assert c["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    [d] = ecs.describe_clusters(clusters=["after"], include=["SETTINGS"])["clusters"]
    assert d["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    # The cluster's own setting wins, and existing clusters keep theirs.
    c = ecs.create_cluster(clusterName="own", settings=[{"name": "containerInsights", "value": "disabled"}])
    assert c["cluster"]["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    [b] = ecs.describe_clusters(clusters=["before"], include=["SETTINGS"])["clusters"]
    assert b["settings"] == [{"name": "containerInsights", "value": "disabled"}]


@pytest.mark.parametrize("call", [
    lambda ecs: ecs.put_account_setting(name="containerInsights", value="maybe"),
    lambda ecs: ecs.put_account_setting_default(name="tagResourceAuthorization", value="enabled"),
    lambda ecs: ecs.put_account_setting(name="fargateTaskRetirementWaitPeriod", value="3"),
    lambda ecs: ecs.put_account_setting(name="fargateTaskRetirementWaitPeriod", value="14", principalArn=ALICE),
    lambda ecs: ecs.put_account_setting(name="guardDutyActivate", value="on"),
    lambda ecs: ecs.put_account_setting(name="awsvpcTrunking", value="enabled",
                                        principalArn="arn:aws:iam::999999999999:user/bob"),
    lambda ecs: ecs.put_account_setting(name="awsvpcTrunking", value="enabled", principalArn="alice"),
    lambda ecs: ecs.delete_account_setting(name="guardDutyActivate"),
    lambda ecs: ecs.list_account_settings(value="enabled"),
    lambda ecs: ecs.list_account_settings(maxResults=11),
    lambda ecs: ecs.list_account_settings(nextToken="garbage"),
])
def test_bad_input_is_invalid_parameter_and_changes_nothing(ecs, call):
    with pytest.raises(ClientError) as exc:
        call(ecs)
    assert error_code(exc) == "InvalidParameterException"
    assert http_status(exc) == 400
    assert ecs.list_account_settings()["settings"] == []
    assert ecs.list_account_settings(principalArn=ALICE)["settings"] == []


def test_unknown_setting_name_is_refused(raw):
    resp = raw.post("PutAccountSetting", {"name": "noSuchSetting", "value": "enabled"})
    assert resp.status == 400
    assert resp.error_type in ("InvalidParameterException", "SerializationException")


def test_cli_account_settings(aws):
    out = aws("ecs", "put-account-setting-default", "--name", "fargateTaskRetirementWaitPeriod", "--value", "14")
    assert out["setting"]["value"] == "14" and out["setting"]["principalArn"] == ROOT
    out = aws("ecs", "put-account-setting", "--name", "containerInsights", "--value", "enabled",
              "--principal-arn", ROLE)
    assert out["setting"]["principalArn"] == ROLE
    out = aws("ecs", "list-account-settings", "--effective-settings", "--principal-arn", ROLE)
    got = {s["name"]: s["value"] for s in out["settings"]}
    assert got["containerInsights"] == "enabled" and got["fargateTaskRetirementWaitPeriod"] == "14"
    assert len(got) == len(DEFAULTS)  # the CLI follows nextToken itself
    out = aws("ecs", "delete-account-setting", "--name", "containerInsights", "--principal-arn", ROLE)
    assert out["setting"]["value"] == "enabled"
    res = aws.run("ecs", "put-account-setting", "--name", "containerInsights", "--value", "x", check=False)
    assert res.returncode != 0 and "InvalidParameterException" in res.stderr
