// Beeper: plays a short tone when the kernel sends {type: "beep"}; counts played beeps in `beeps`.
//
// Browsers start an AudioContext "suspended" until the page gets a click, so the widget shows
// "click to enable sound" until then and resumes the context on the first click anywhere.

let ctx = null; // one context for every beeper on the page: browsers limit how many may exist
const listeners = new Set();

function context() {
  if (!ctx) {
    ctx = new AudioContext();
    ctx.addEventListener("statechange", () => listeners.forEach((f) => f()));
  }
  return ctx;
}

function enable() {
  const c = context();
  if (c.state !== "running") c.resume();
}
// Any click or key on the page counts as the gesture the browser wants.
document.addEventListener("pointerdown", enable, { capture: true, passive: true });
document.addEventListener("keydown", enable, { capture: true, passive: true });

function play(frequency, durationMs) {
  const c = context();
  const t = c.currentTime;
  const end = t + durationMs / 1000;
  const osc = c.createOscillator();
  const gain = c.createGain();
  osc.type = "sine";
  osc.frequency.value = frequency;
  // 5 ms ramps: a tone switched on or off abruptly clicks.
  gain.gain.setValueAtTime(0, t);
  gain.gain.linearRampToValueAtTime(0.25, t + 0.005);
  gain.gain.setValueAtTime(0.25, Math.max(t + 0.005, end - 0.005));
  gain.gain.linearRampToValueAtTime(0, end);
  osc.connect(gain).connect(c.destination);
  osc.start(t);
  osc.stop(end + 0.01);
}

function initialize({ model }) {
  context(); // created now so the widget can tell whether sound is already allowed
  const onMessage = async (msg) => {
    if (msg.type !== "beep") return;
    const c = context();
    if (c.state !== "running") {
      // Allowed without a click in some browsers/settings; otherwise the beep is skipped (and not counted).
      await Promise.race([c.resume(), new Promise((r) => setTimeout(r, 200))]);
    }
    if (c.state !== "running") {
      listeners.forEach((f) => f());
      return;
    }
    play(msg.frequency ?? model.get("frequency"), msg.duration_ms ?? model.get("duration_ms"));
    // The kernel counts: a custom message gets through while a cell awaits, a trait sync may not (browser.py).
    model.send({ type: "beeped" });
    listeners.forEach((f) => f(true));
  };
  model.on("msg:custom", onMessage);
  let reported = null;
  const syncEnabled = () => {
    // sound_enabled is only a report to the kernel; the browser's context state is the truth.
    const running = ctx !== null && ctx.state === "running";
    if (reported !== running) {
      reported = running;
      model.send({ type: "sound", enabled: running });
    }
  };
  listeners.add(syncEnabled);
  syncEnabled();
  return () => listeners.delete(syncEnabled);
}

// A speaker drawn in the text colour; with sound waves when sound is on, crossed out when off.
function speakerIcon(on) {
  const waves = on
    ? '<path d="M11 5.5a3.5 3.5 0 0 1 0 5M12.8 3.5a6 6 0 0 1 0 9" fill="none" stroke="currentColor" stroke-width="1.4" stroke-linecap="round"/>'
    : '<path d="M11 5.5l4 5M15 5.5l-4 5" stroke="currentColor" stroke-width="1.4" stroke-linecap="round"/>';
  return (
    '<svg class="dgw-icon" width="1em" height="1em" viewBox="0 0 16 16" aria-hidden="true" style="vertical-align:-0.125em">' +
    '<path d="M2 6h2.5L8 3v10L4.5 10H2z" fill="currentColor"/>' + waves + "</svg>"
  );
}

function render({ model, el }) {
  el.classList.add("dgw-widget", "dgw-beeper");
  const button = document.createElement("button");
  button.className = "dgw-button";
  const count = document.createElement("span");
  count.className = "dgw-status";
  el.append(button, count);

  let flashTimer = null;
  function draw(flash) {
    const running = ctx !== null && ctx.state === "running";
    el.dataset.state = running ? "on" : "off";
    // An inline SVG speaker, not an emoji: the page may have no emoji font.
    button.innerHTML = speakerIcon(running) + (running ? " sound on" : " click to enable sound");
    button.title = running ? "play a test beep" : "browsers keep sound off until you click the page";
    count.textContent = `${model.get("beeps")} beep${model.get("beeps") === 1 ? "" : "s"}`;
    if (flash === true) {
      el.classList.add("dgw-flash");
      clearTimeout(flashTimer);
      flashTimer = setTimeout(() => el.classList.remove("dgw-flash"), model.get("duration_ms"));
    }
  }
  button.addEventListener("click", () => {
    const c = context();
    // The click itself is the gesture: resume, then beep once so the learner hears what to expect.
    c.resume().then(() => {
      play(model.get("frequency"), model.get("duration_ms"));
      draw();
    });
  });
  listeners.add(draw);
  model.on("change:beeps", () => draw());
  draw();
  return () => listeners.delete(draw);
}

export default { initialize, render };
