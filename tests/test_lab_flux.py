"""ParameterPanel and StreamLab in Flux mode (`/v2/listen`), kernel side, against the embedded local engine."""

from __future__ import annotations

import asyncio

import pytest

from dgwidgets.flux import FluxOptions
from dgwidgets.protocol import LiveOptions
from dgwidgets.widgets.controls import ParameterPanel
from dgwidgets.widgets.lab import DEFAULT_STRATEGIES, FLUX_DEFAULT_STRATEGIES, StreamLab
from dgwidgets.widgets.viewmodels import TURN_MARKER_EVENTS


def test_panel_api_toggle_shows_each_apis_controls_and_options():
    panel = ParameterPanel(api="v2", eot_threshold=0.8, eager_eot_threshold=0.5, eot_timeout_ms=2000, endpointing=300)
    options = panel.options()
    assert isinstance(options, FluxOptions)
    assert (options.eot_threshold, options.eager_eot_threshold, options.eot_timeout_ms) == (0.8, 0.5, 2000)
    assert all(box.layout.display == "none" for box in panel._v1_boxes)
    assert all(box.layout.display is None for box in panel._v2_boxes)
    panel.api.value = "v1"
    assert isinstance(panel.options(), LiveOptions) and panel.options().endpointing == 300
    assert all(box.layout.display is None for box in panel._v1_boxes)
    assert all(box.layout.display == "none" for box in panel._v2_boxes)
    panel.api.value = "v2"
    panel.eager_on.value = False
    assert panel.options().eager_eot_threshold is None and panel.eager_eot_threshold.disabled
    with pytest.raises(ValueError, match="api must be 'v1'"):
        ParameterPanel(api="v3")


def test_panel_explains_flux_rules_inline():
    panel = ParameterPanel(api="v2", eot_threshold=0.6)
    assert "ready" in panel.message.value
    panel.eager_on.value = True
    panel.eager_eot_threshold.value = 0.75
    assert "must not exceed eot_threshold (0.6)" in panel.message.value
    panel.eager_eot_threshold.value = 0.5
    panel.params.value = "interim_results=true"
    assert "interim_results: not a /v2/listen parameter" in panel.message.value


def test_flux_lab_streams_and_fills_table_plot_and_lanes():
    lab = StreamLab(api="v2", source="sample:hello-there", speed=0, show_player=False, eot_timeout_ms=3000)
    assert lab.strategy_names == FLUX_DEFAULT_STRATEGIES and lab.beep_on == "flux_end_of_turn"
    assert lab.finalize_button.description == "ForceEndTurn"
    log = asyncio.run(lab.run())
    assert log.api == "v2" and log.final_transcript() == "hello there how are you"
    lab.table.refresh()  # in a notebook the coalesced sync follows within 50 ms
    assert lab.table.api == "v2"
    assert [r["event"] for r in lab.table.rows if r["event"] in ("StartOfTurn", "EndOfTurn")] == [
        "StartOfTurn",
        "EndOfTurn",
    ] * 2
    lab.timeline.refresh()
    arrivals = [e.at for e in log if getattr(e.message, "event", "") == "EndOfTurn"]
    assert lab.timeline.trace("EndOfTurn").x.tolist()[0::3] == arrivals
    assert {m.event for m in lab.timeline.model.turn_events} <= set(TURN_MARKER_EVENTS)
    assert [u.text for u in lab.utterances["flux_end_of_turn"]] == ["hello there", "how are you"]
    assert "flux_end_of_turn" in lab.utterance_view.value
    assert "done: Flux /v2/listen" in lab.status.value and "2 EndOfTurn" in lab.status.value


def test_the_toggle_switches_a_lab_to_flux_and_back():
    lab = StreamLab(source="sample:yes", speed=0, show_player=False)
    assert lab.api == "v1" and lab.strategy_names == DEFAULT_STRATEGIES
    lab.panel.api.value = "v2"
    assert lab.api == "v2" and lab.strategy_names == FLUX_DEFAULT_STRATEGIES
    assert lab.finalize_button.description == "ForceEndTurn"
    log = asyncio.run(lab.run())
    assert log.api == "v2" and lab.utterances.keys() == set(FLUX_DEFAULT_STRATEGIES)
    lab.panel.api.value = "v1"
    assert lab.finalize_button.description == "Finalize"
    assert asyncio.run(lab.run()).api == "v1"
    lab.table.refresh()
    assert lab.table.api == "v1"


def test_force_end_turn_from_the_lab():
    async def go():
        # the model off and a long timeout: only ForceEndTurn can end the first turn
        lab = StreamLab(
            api="v2", source="sample:hello-there", speed=1.0, show_player=False, eot_threshold=1.0, eot_timeout_ms=60000
        )
        task = lab.start()
        await asyncio.sleep(1.6)  # "hello there" has been said
        await lab.finalize()  # the ForceEndTurn button
        return await task

    log = asyncio.run(go())
    ends = log.turns("EndOfTurn")
    assert ends and ends[0].trigger == "manual" and ends[0].transcript == "hello there"
