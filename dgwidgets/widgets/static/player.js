// AudioPlayer: an <audio> element driven by the kernel (play/pause/seek messages) that reports
// its playhead back in `position` about 10 times a second while playing.
// One element per widget (not per view), so showing the widget twice never plays it twice.

const players = new Map();
const REPORT_MS = 100; // the `timeupdate` event fires only ~4 times a second: too coarse to follow a stream

class Player {
  constructor(model) {
    this.model = model;
    this.audio = document.createElement("audio");
    this.audio.controls = true;
    this.audio.preload = "auto";
    this.timer = null;
    this.views = new Set();
    this.error = "";
    const a = this.audio;
    a.addEventListener("loadedmetadata", () => this.report({ duration: Number.isFinite(a.duration) ? a.duration : 0 }));
    a.addEventListener("play", () => {
      this.report({ playing: true, error: "", position: a.currentTime });
      clearInterval(this.timer);
      this.timer = setInterval(() => this.report({ position: a.currentTime }), REPORT_MS);
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

  // Follow a stream's clock: start there, and move the playhead only when it strays beyond the
  // tolerance (every correction is an audible jump).
  sync(position, rate) {
    const a = this.audio;
    if (!this.model.get("src") || (Number.isFinite(a.duration) && position >= a.duration)) return;
    if (a.playbackRate !== rate) a.playbackRate = rate;
    if (a.paused) {
      a.currentTime = position;
      this.play();
    } else if (Math.abs(a.currentTime - position) > this.model.get("sync_tolerance")) {
      a.currentTime = position;
    }
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
