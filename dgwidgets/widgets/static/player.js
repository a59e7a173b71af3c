// AudioPlayer: an <audio> element driven by the kernel (play/pause/seek messages) that reports
// its playhead back in `position` about 10 times a second while playing.
// One element per widget (not per view), so showing the widget twice never plays it twice.

const players = new Map();
const REPORT_MS = 100; // the `timeupdate` event fires only ~4 times a second: too coarse to follow a stream
const SEEK_S = 0.35; // errors beyond this move the playhead; smaller ones are nudged away
const NUDGE_MAX = 0.15; // at most 15% faster or slower (speech stays intelligible, pitch is kept)
const NUDGE_HORIZON_S = 1.0; // a nudge aims to close the error in about this long

class Player {
  constructor(model) {
    this.model = model;
    this.audio = document.createElement("audio");
    this.audio.controls = true;
    this.audio.preload = "auto";
    this.timer = null;
    this.views = new Set();
    this.error = "";
    this.startLag = 0; // seconds between asking to play and the audio really moving (learned)
    this.started = null;
    this.clock = null; // the last sync: { position, rate, at (performance.now() when it arrived) }
    const a = this.audio;
    a.preservesPitch = true;
    a.addEventListener("loadedmetadata", () => this.report({ duration: Number.isFinite(a.duration) ? a.duration : 0 }));
    a.addEventListener("playing", () => {
      // Learn how long a start takes here, so the next start aims that far ahead (capped: a
      // start delayed by a click prompt says nothing about the audio pipeline).
      if (this.started !== null) this.startLag = Math.min(0.3, (performance.now() - this.started) / 1000);
      this.started = null;
    });
    a.addEventListener("play", () => {
      this.report({ playing: true, error: "", position: a.currentTime });
      clearInterval(this.timer);
      this.timer = setInterval(() => this.report({ position: a.currentTime, ...this.syncError() }), REPORT_MS);
    });
    const halt = () => {
      clearInterval(this.timer);
      this.timer = null;
      this.report({ playing: false, position: a.currentTime });
    };
    a.addEventListener("pause", halt);
    a.addEventListener("ended", halt);
    a.addEventListener("seeked", () => this.report({ position: a.currentTime }));
    a.addEventListener("error", () => this.report({ error: "the browser could not load this audio", playing: false }));
    this.load();
  }

  load() {
    const src = this.model.get("src");
    if (src) this.audio.src = src;
    else this.audio.removeAttribute("src");
  }

  // Reports go as custom messages and Python sets the traits (see browser.py on why not save_changes).
  report(changes) {
    this.model.send({ type: "state", load: this.model.get("_load"), ...changes });
    if ("error" in changes) this.error = changes.error;
    for (const view of this.views) view();
  }

  // Follow a stream's clock without audible jumps. Within the tolerance: the nominal rate. Off by
  // more: the playback rate is nudged (up to NUDGE_MAX) so the playhead converges on the clock in
  // about NUDGE_HORIZON_S; only an error beyond SEEK_S (start-up, a stall, a tab in the background)
  // moves the playhead, and then ahead by the delay the last start or seek took. Seeking on every
  // small error (the old way) restarts the audio pipeline each time and never caught up.
  sync(position, rate) {
    const a = this.audio;
    if (!this.model.get("src") || (Number.isFinite(a.duration) && position >= a.duration)) return;
    this.clock = { position, rate, at: performance.now() };
    if (a.paused) {
      this.jump(position + this.startLag);
      this.started = performance.now();
      this.play();
      a.playbackRate = rate;
      return;
    }
    const error = a.currentTime - position; // > 0: the playhead is ahead of the stream
    if (Math.abs(error) > SEEK_S) {
      this.jump(position + this.startLag);
      a.playbackRate = rate;
    } else if (Math.abs(error) <= this.model.get("sync_tolerance")) {
      if (a.playbackRate !== rate) a.playbackRate = rate;
    } else {
      const nudge = Math.max(-NUDGE_MAX, Math.min(NUDGE_MAX, error / NUDGE_HORIZON_S));
      a.playbackRate = rate * (1 - nudge);
    }
  }

  // How far the playhead is from the stream clock, measured here: the clock is the last sync's
  // position carried forward by the time since it arrived. (A kernel busy drawing a plot reads
  // reports late; this figure does not depend on when the kernel reads it.)
  syncError() {
    if (!this.clock || this.audio.paused) return {};
    const now = this.clock.position + ((performance.now() - this.clock.at) / 1000) * this.clock.rate;
    return { sync_error: this.audio.currentTime - now };
  }

  jump(position) {
    const a = this.audio;
    a.currentTime = Number.isFinite(a.duration) ? Math.min(position, a.duration) : position;
  }

  async play() {
    try {
      await this.audio.play();
    } catch (err) {
      // NotAllowedError: the page has had no click yet (autoplay policy).
      const why = err && err.name === "NotAllowedError" ? "sound is blocked until you click the page: press ▶" : String(err);
      this.report({ error: why, playing: false });
    }
  }
}

function playerFor(model) {
  const key = model.get("_key");
  let p = players.get(key);
  if (!p) {
    p = new Player(model);
    players.set(key, p);
  }
  return p;
}

function initialize({ model }) {
  const p = playerFor(model);
  model.on("change:src", () => {
    p.error = "";
    p.load();
  });
  model.on("msg:custom", (msg) => {
    if (msg.type === "play") p.play();
    else if (msg.type === "pause") p.audio.pause();
    else if (msg.type === "seek") p.audio.currentTime = msg.position;
    else if (msg.type === "sync") p.sync(msg.position, msg.rate);
  });
  return () => {
    p.audio.pause();
    clearInterval(p.timer);
    players.delete(model.get("_key"));
  };
}

function render({ model, el }) {
  const p = playerFor(model);
  el.classList.add("dgw-widget", "dgw-player");
  const label = document.createElement("span");
  label.className = "dgw-status";
  // The element lives in the newest view; an older view of the same widget keeps only its label.
  el.append(p.audio, label);
  function draw() {
    // Drawn from the element itself: the traits come back from the kernel a round trip later.
    const a = p.audio;
    const pos = a.currentTime;
    const dur = Number.isFinite(a.duration) ? a.duration : 0;
    el.dataset.state = a.paused ? "paused" : "playing";
    const err = p.error;
    label.textContent = `${model.get("name")} ${pos.toFixed(1)} / ${dur ? dur.toFixed(1) : "?"} s${err ? ` ⚠ ${err}` : ""}`;
  }
  p.views.add(draw);
  model.on("change:name", draw);
  draw();
  return () => p.views.delete(draw);
}

export default { initialize, render };
