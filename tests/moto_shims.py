"""Application Auto Scaling tagging for the in-process moto server, which lacks it (moto 5.2.5).

The AWS provider tags an `aws_appautoscaling_target` and then reads the tags back with
ListTagsForResource; moto answers NotImplemented (HTTP 500), which the provider retries for many
minutes, so `terraform apply` of an instance endpoint's autoscaling never finishes on moto. This
adds the three tagging actions to moto's response class (and keeps the Tags that
RegisterScalableTarget is given), per resource ARN, for the
tests that apply autoscaling (the moto server runs in the test process, so the patch reaches it).
"""

from __future__ import annotations

import json

import pytest
from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse

_TAGS: dict[str, dict[str, str]] = {}


def _list_tags_for_resource(self) -> str:
    return json.dumps({"Tags": _TAGS.get(self._get_param("ResourceARN"), {})})


def _tag_resource(self) -> str:
    _TAGS.setdefault(self._get_param("ResourceARN"), {}).update(self._get_param("Tags") or {})
    return "{}"


def _untag_resource(self) -> str:
    tags = _TAGS.get(self._get_param("ResourceARN"), {})
    for key in self._get_param("TagKeys") or []:
        tags.pop(key, None)
    return "{}"


_REGISTER = ApplicationAutoScalingResponse.register_scalable_target


def _register_scalable_target(self) -> str:
    """moto's RegisterScalableTarget, keeping the Tags it is given (moto drops them)."""
    answer = _REGISTER(self)
    arn = json.loads(answer)["ScalableTargetARN"]
    _TAGS.setdefault(arn, {}).update(self._get_param("Tags") or {})
    return answer


@pytest.fixture
def autoscaling_tagging(monkeypatch):
    """moto server with Application Auto Scaling's TagResource / UntagResource / ListTagsForResource."""
    _TAGS.clear()
    for name, action in [
        ("list_tags_for_resource", _list_tags_for_resource),
        ("tag_resource", _tag_resource),
        ("untag_resource", _untag_resource),
        ("register_scalable_target", _register_scalable_target),
    ]:
        monkeypatch.setattr(ApplicationAutoScalingResponse, name, action, raising=False)
    yield _TAGS
