"""ParameterPanel and StreamLab on the kernel side: what the controls produce, what a run shows."""

from __future__ import annotations

import asyncio

import pytest

from dgwidgets.client import ConnectionFailedError
from dgwidgets.protocol import UtteranceEnd
from dgwidgets.widgets.controls import ParameterPanel
from dgwidgets.widgets.lab import StreamLab


def test_panel_turns_controls_into_options():
    panel = ParameterPanel(
        source="sample:drive-thru",
        interim_results=True,
        endpointing=False,
        utterance_end_ms=1500,
        vad_events=True,
        smart_format=True,
    )
    opts = panel.options()
    assert (opts.interim_results, opts.endpointing, opts.utterance_end_ms, opts.vad_events, opts.smart_format) == (
        True,
        False,
        1500,
        True,
        True,
    )
    assert opts.keyterm == ("cheeseburger", "chocolate milkshake"), "a sample brings its bias list"
    panel.endpointing_off.value = False
    panel.endpointing.value = 500
    panel.utterance_end_on.value = False
    assert panel.options().endpointing == 500 and panel.options().utterance_end_ms is None
    assert panel.source_spec == "sample:drive-thru"


def test_panel_explains_ineffective_combinations_inline():
    panel = ParameterPanel(interim_results=False, utterance_end_ms=1000)
    assert "utterance_end_ms needs interim_results" in panel.message.value
    panel.interim_results.value = True
    assert "ready" in panel.message.value
    panel.backend_choice.value = "url"
    assert "ws:// or wss://" in panel.message.value


def test_panel_warns_about_parameters_the_local_engine_ignores_and_keeps_them_for_the_cloud():
    panel = ParameterPanel(backend="local", params="diarize=true&extra=room:7b&language=multi")
    opts = panel.options()
    assert opts.extra == (("room", "7b"),) and opts.language == "multi" and ("diarize", "true") in opts.other
    assert "diarize=true is ignored by the local engine" in panel.message.value
    assert "language=multi: the local engine recognizes English only" in panel.message.value
    panel.backend_choice.value = "cloud"
    assert "ignored by the local engine" not in panel.message.value, "Deepgram applies them"
    panel.params.value = "model=nova-3&keywords=moon"
    assert "Nova-3 models take keyterm" in panel.message.value


def test_changing_the_sample_changes_its_keyterms_unless_given():
    panel = ParameterPanel(source="sample:yes")
    panel.source.value = "sample:drive-thru"
    assert panel.keyterms.value == "cheeseburger, chocolate milkshake"
    panel.source.value = "sample:hello-there"
    assert panel.keyterms.value == "", "samples carry no scripts as keyterms"
    fixed = ParameterPanel(source="sample:yes", keyterms=["my words"])
    fixed.source.value = "sample:drive-thru"
    assert fixed.keyterms.value == "my words"


def test_the_key_field_empties_itself_and_the_key_stays_in_the_kernel(monkeypatch):
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    panel = ParameterPanel(backend="cloud")
    with pytest.raises(ValueError, match="enter a Deepgram API key"):
        panel.backend()
    panel.api_key.value = "typed-key-42"
    assert panel.api_key.value == "" and "key set" in panel.key_state.value
    backend = panel.backend()
    assert backend.kind == "cloud" and backend.api_key == "typed-key-42"
    assert "typed-key-42" not in repr(backend) and "typed-key-42" not in str(panel.api_key.get_state())


def test_default_backend_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DGWIDGETS_BACKEND", "url")
    monkeypatch.setenv("DGWIDGETS_URL", "ws://127.0.0.1:8765/v1/listen")
    panel = ParameterPanel()
    assert panel.backend_choice.value == "url" and panel.url.value == "ws://127.0.0.1:8765/v1/listen"
    monkeypatch.setenv("DGWIDGETS_BACKEND", "mars")
    with pytest.raises(ValueError, match="backend must be one of local, cloud, url"):
        ParameterPanel()


def test_the_player_is_shown_only_while_it_holds_the_chosen_sources_audio():
    lab = StreamLab(source="sample:yes")
    assert lab.player.src.startswith("data:audio/wav") and lab.player.layout.display is None
    lab.panel.source.value = "browser-mic"  # no file to play: no empty (or stale) player
    assert lab.player.layout.display == "none" and lab.microphone is not None
    lab.panel.source.value = "sample:yes"
    assert lab.player.layout.display is None
    assert StreamLab(source="browser-mic").player.layout.display == "none"
    assert StreamLab(source="sample:yes", show_player=False).player.layout.display == "none"


def test_a_run_fills_table_plot_strategies_and_status():
    lab = StreamLab(
        source="sample:hello-there",
        speed=0,
        show_player=False,
        interim_results=True,
        endpointing=300,
        utterance_end_ms=1000,
    )
    beeps = []
    lab.beeper.beep = lambda *a, **k: beeps.append(1)
    log = asyncio.run(lab.run())
    assert lab.session is log and log.final_transcript() == "hello there how are you"
    lab.table.refresh()
    assert lab.table.total == len(log) and any(r["kind"] == "speech_final" for r in lab.table.rows)
    assert [w.word for w in lab.timeline.model.words] == ["hello", "there", "how", "are", "you"]
    assert len(lab.timeline.model.utterance_ends) == len(log.of_type(UtteranceEnd)) >= 1
    assert [u.text for u in lab.utterances["speech_final"]] == ["hello there", "how are you"]
    assert len(beeps) == len(lab.utterances["speech_final_or_utterance_end"]) == 2
    assert "done:" in lab.status.value and "2 speech_final" in lab.status.value
    assert "hello there" in lab.utterance_view.value
    assert not lab.start_button.disabled and lab.stop_button.disabled


def test_a_failed_run_says_why_and_keeps_the_lab_usable():
    lab = StreamLab(source="sample:yes", backend="url", url="ws://127.0.0.1:9/v1/listen", speed=0, show_player=False)
    with pytest.raises(ConnectionFailedError):
        asyncio.run(lab.run())
    assert isinstance(lab.error, ConnectionFailedError)
    assert "Could not connect" in lab.status.value and not lab.start_button.disabled


def test_start_streams_in_the_background_and_stop_ends_early():
    async def go():
        lab = StreamLab(source="sample:credit-card", speed=1.0, show_player=False, interim_results=True)
        task = lab.start()
        assert lab.running and lab.start() is task, "a second start does not start twice"
        await asyncio.sleep(2.5)  # the kernel loop stays free meanwhile
        lab.stop()
        log = await asyncio.wait_for(task, 10)
        return lab, log

    lab, log = asyncio.run(go())
    assert not lab.running
    assert log.entries and log.entries[-1].message.type == "Metadata"
    assert log.entries[-1].message.duration < 5, "stopped after about 2.5 s of audio"


def test_compare_runs_each_parameter_set_on_the_same_audio():
    cmp = StreamLab.compare(
        dict(endpointing=10), dict(endpointing=False), source="sample:hello-there", interim_results=True, speed=0
    )
    logs = asyncio.run(cmp.run())
    counts = [sum(r.speech_final for r in log.results()) for log in logs]
    assert counts[0] >= 2 and counts[1] == 0
    assert [lab.panel.options().endpointing for lab in cmp.labs] == [10, False]
    with pytest.raises(ValueError, match="at least two parameter sets"):
        StreamLab.compare(dict(endpointing=10))


def test_compare_streams_one_lab_at_a_time_on_the_local_engine_and_together_when_asked():
    import time

    def timed(cmp):
        spans = []
        for lab in cmp.labs:
            original = lab.run

            async def run(original=original):
                started = time.monotonic()
                log = await original()
                spans.append((started, time.monotonic()))
                return log

            lab.run = run
        return spans

    cmp = StreamLab.compare(dict(endpointing=10), dict(endpointing=300), source="sample:yes", speed=0)
    spans = timed(cmp)
    logs = asyncio.run(cmp.run())
    assert all(log.results() for log in logs)
    (a0, a1), (b0, b1) = sorted(spans)
    assert a1 <= b0, "the second lab started only after the first had finished"
    cmp = StreamLab.compare(dict(endpointing=10), dict(endpointing=300), source="sample:yes", speed=0)
    spans = timed(cmp)
    asyncio.run(cmp.run(together=True))
    (a0, a1), (b0, b1) = sorted(spans)
    assert b0 < a1, "together=True streams both at once"


def test_bad_arguments_are_refused_clearly():
    with pytest.raises(ValueError, match="unknown strategies"):
        StreamLab(strategies=("speech_final", "telepathy"))
    with pytest.raises(ValueError, match="beep_on='silence_interval' must be one of the strategies shown"):
        StreamLab(strategies=("speech_final",), beep_on="silence_interval")
