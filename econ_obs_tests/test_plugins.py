"""Plug-ins: ECON_OBS_PLUGIN_MODULES refuses a model.class module before importing it."""

from __future__ import annotations

import sys

import pytest

from econ_obs.core.models import (
    DEFAULT_MODEL_CLASS,
    PLUGIN_MODULES_ENV_VAR,
    RidgeSignal,
    load_model_class,
)
from econ_obs_tests.plugin_models import ConstantSignal

PLUGIN = "econ_obs_tests.plugin_models:ConstantSignal"


def test_a_module_outside_the_allow_list_is_refused_before_import(monkeypatch):
    monkeypatch.setenv(PLUGIN_MODULES_ENV_VAR, "econ_obs_tests")
    monkeypatch.delitem(sys.modules, "this", raising=False)

    with pytest.raises(ValueError, match="module 'this' is not in ECON_OBS_PLUGIN_MODULES") as e:
        load_model_class("this:Foo")

    assert "this" not in sys.modules  # never imported, so its code never ran
    assert "\n" not in str(e.value)


def test_allowed_names_cover_their_submodules_only(monkeypatch):
    monkeypatch.setenv(PLUGIN_MODULES_ENV_VAR, " other_pkg , econ_obs_tests ")
    assert load_model_class(PLUGIN) is ConstantSignal

    monkeypatch.setenv(PLUGIN_MODULES_ENV_VAR, "econ_obs_test")  # a prefix of a name is not it
    with pytest.raises(ValueError, match="is not in"):
        load_model_class(PLUGIN)


def test_the_default_model_is_always_allowed(monkeypatch):
    monkeypatch.setenv(PLUGIN_MODULES_ENV_VAR, "my_models")
    assert load_model_class(DEFAULT_MODEL_CLASS) is RidgeSignal


def test_unset_or_empty_allows_any_module(monkeypatch):
    monkeypatch.setenv(PLUGIN_MODULES_ENV_VAR, " , ")
    assert load_model_class(PLUGIN) is ConstantSignal
    monkeypatch.delenv(PLUGIN_MODULES_ENV_VAR)
    assert load_model_class(PLUGIN) is ConstantSignal
