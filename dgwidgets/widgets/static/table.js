// ResultsTable view: the documentation's rolling results table.
// Plain ES module for anywidget (no build step). Rows come from Python (the last max_rows only);
// the whole session's doc text and JSONL are asked for on demand with model.send().

const COLUMNS = ["#", "window", "is_final", "speech_final", "transcript"];
// A Flux (/v2/listen) table: one row per turn event.
const TURN_COLUMNS = ["#", "turn", "event", "window", "transcript", "end_of_turn_confidence", "trigger", "received at"];
// The TurnInfo events' row classes (dg-row-start-of-turn, …).
const TURN_CLASSES = {
  Update: "dg-row-update",
  StartOfTurn: "dg-row-start-of-turn",
  EagerEndOfTurn: "dg-row-eager-end-of-turn",
  TurnResumed: "dg-row-turn-resumed",
  EndOfTurn: "dg-row-end-of-turn",
};
// Within this many pixels of the bottom counts as "at the bottom" (sub-pixel scroll positions).
const BOTTOM_SLACK = 12;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function flag(value) {
  return el("span", value ? "dg-flag dg-flag-true" : "dg-flag dg-flag-false", value ? "true" : "false");
}

function rowClasses(row) {
  const classes = ["dg-row"];
  if (row.kind === "interim") {
    classes.push("dg-row-interim");
    if (row.superseded) classes.push("dg-row-superseded");
  } else if (row.kind === "final" || row.kind === "speech_final") {
    classes.push("dg-row-final");
    if (row.kind === "speech_final") classes.push("dg-row-speech-final");
  } else {
    classes.push("dg-row-event");
  }
  return classes.join(" ");
}

function eventRow(tr, row, columns) {
  tr.append(el("td", "dg-col-n", "--"));
  const td = el("td", "dg-col-event");
  td.colSpan = columns - 1;
  td.append(el("span", "dg-event-kind", row.kind), document.createTextNode(" " + stripKind(row)));
  tr.append(td);
  return tr;
}

function renderTurnRow(row) {
  const classes = ["dg-row", "dg-row-turn", TURN_CLASSES[row.event] || "dg-row-other-turn"];
  if (row.superseded) classes.push("dg-row-superseded");
  if (row.n === null || row.n === undefined) classes.push("dg-row-event");
  const tr = el("tr", classes.join(" "));
  tr.dataset.kind = row.kind;
  tr.dataset.n = row.n === null || row.n === undefined ? "" : String(row.n);
  tr.dataset.event = row.event || "";
  tr.title = `received at ${Number(row.at).toFixed(3)} s`;
  if (row.n === null || row.n === undefined) return eventRow(tr, row, TURN_COLUMNS.length);
  tr.append(el("td", "dg-col-n", String(row.n)));
  tr.append(el("td", "dg-col-turn", String(row.turn)));
  const event = el("td", "dg-col-turn-event");
  event.append(el("span", "dg-turn-event", row.event));
  if (row.updates > 1) event.append(el("span", "dg-badge dg-badge-updates", `×${row.updates}`));
  tr.append(event);
  tr.append(el("td", "dg-col-window", row.window));
  const text = el("td", "dg-col-text");
  text.append(row.text ? document.createTextNode(row.text) : el("span", "dg-empty", "(no words)"));
  tr.append(text);
  tr.append(el("td", "dg-col-confidence", Number(row.confidence ?? 0).toFixed(2)));
  const trigger = el("td", "dg-col-trigger");
  if (row.trigger) trigger.append(el("span", "dg-badge dg-badge-trigger", row.trigger));
  tr.append(trigger);
  tr.append(el("td", "dg-col-at", Number(row.at).toFixed(3)));
  return tr;
}

function renderRow(row) {
  const tr = el("tr", rowClasses(row));
  tr.dataset.kind = row.kind;
  tr.dataset.n = row.n === null || row.n === undefined ? "" : String(row.n);
  tr.dataset.channel = String(row.channel ?? 0);
  tr.title = `received at ${Number(row.at).toFixed(3)} s`;
  if (row.n === null || row.n === undefined) return eventRow(tr, row, COLUMNS.length);
  tr.append(el("td", "dg-col-n", String(row.n)));
  tr.append(el("td", "dg-col-window", row.window));
  const isFinal = el("td", "dg-col-flag");
  isFinal.append(flag(row.is_final));
  const speechFinal = el("td", "dg-col-flag");
  speechFinal.append(flag(row.speech_final));
  const text = el("td", "dg-col-text");
  if (row.channel) text.append(el("span", "dg-badge dg-badge-channel", `ch ${row.channel}`));
  if (row.from_finalize) text.append(el("span", "dg-badge dg-badge-finalize", "Finalize"));
  text.append(row.text ? document.createTextNode(row.text) : el("span", "dg-empty", "(empty)"));
  tr.append(isFinal, speechFinal, text);
  return tr;
}

function stripKind(row) {
  // Event texts start with their kind ("UtteranceEnd last_word_end=…"): the badge shows it already.
  return row.text.startsWith(row.kind) ? row.text.slice(row.kind.length).trimStart() : row.text;
}

async function copyText(pending) {
  // Safari only allows clipboard writes inside the click handler: hand it a promise of the text.
  if (window.ClipboardItem && navigator.clipboard && navigator.clipboard.write) {
    try {
      const blob = pending.then((text) => new Blob([text], { type: "text/plain" }));
      await navigator.clipboard.write([new ClipboardItem({ "text/plain": blob })]);
      return true;
    } catch (err) {
      // fall through to writeText (Firefox without promise support in ClipboardItem)
    }
  }
  const text = await pending;
  if (navigator.clipboard && navigator.clipboard.writeText) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (err) {
      return false;
    }
  }
  return false;
}

function render({ model, el: root }) {
  root.classList.add("dg-results-table");

  const header = el("div", "dg-table-header");
  const title = el("span", "dg-table-title");
  const count = el("span", "dg-table-count");
  const copyButton = el("button", "dg-button dg-copy", "copy as doc text");
  copyButton.type = "button";
  copyButton.title = "Copy the whole session in the documentation's table format";
  const exportButton = el("button", "dg-button dg-export", "export JSONL");
  exportButton.type = "button";
  exportButton.title = "Download the whole session as a JSONL SessionLog";
  const status = el("span", "dg-table-status");
  status.setAttribute("role", "status");
  header.append(title, count, copyButton, exportButton, status);

  const scroller = el("div", "dg-table-scroll");
  const table = el("table", "dg-table");
  const thead = el("thead");
  const headRow = el("tr");
  thead.append(headRow);
  let drawnApi = null;
  const drawColumns = () => {
    const api = model.get("api") || "v1";
    if (api === drawnApi) return;
    drawnApi = api;
    root.dataset.api = api;
    headRow.replaceChildren(...(api === "v2" ? TURN_COLUMNS : COLUMNS).map((name) => el("th", "", name)));
  };
  const tbody = el("tbody");
  table.append(thead, tbody);
  scroller.append(table);
  // Shown when the user scrolled up and new rows arrived below.
  const newRows = el("button", "dg-button dg-new-rows", "new rows ↓");
  newRows.type = "button";
  newRows.hidden = true;
  const fallback = el("textarea", "dg-copy-fallback");
  fallback.readOnly = true;
  fallback.hidden = true;
  root.append(header, scroller, newRows, fallback);

  // Follow the newest row until the user scrolls up; scrolling back to the bottom resumes it.
  let stick = true;
  let programmatic = false;
  const atBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= BOTTOM_SLACK;
  const toBottom = () => {
    programmatic = true;
    scroller.scrollTop = scroller.scrollHeight;
    newRows.hidden = true;
  };
  const onScroll = () => {
    if (programmatic) {
      programmatic = false;
      return;
    }
    stick = atBottom();
    if (stick) newRows.hidden = true;
  };
  scroller.addEventListener("scroll", onScroll);
  newRows.addEventListener("click", () => {
    stick = true;
    toBottom();
  });

  let statusTimer = null;
  const say = (text) => {
    status.textContent = text;
    clearTimeout(statusTimer);
    statusTimer = setTimeout(() => (status.textContent = ""), 4000);
  };

  const drawHeader = () => {
    title.textContent = model.get("title") || "";
    const shown = (model.get("rows") || []).length;
    const total = model.get("total") || 0;
    count.textContent = total > shown ? `last ${shown} of ${total} messages` : `${total} messages`;
  };

  const drawRows = () => {
    drawColumns();
    const rows = model.get("rows") || [];
    const render = model.get("api") === "v2" ? renderTurnRow : renderRow;
    const fragment = document.createDocumentFragment();
    for (const row of rows) fragment.append(render(row));
    tbody.replaceChildren(fragment);
    drawHeader();
    if (stick) toBottom();
    else if (rows.length) newRows.hidden = false;
  };

  // Requests answered by Python with self.send(); resolved by the message handler below.
  const waiting = { doc_text: [], export: [] };
  const request = (type, answer) =>
    new Promise((resolve) => {
      waiting[answer].push(resolve);
      model.send({ type });
    });
  const onMessage = (msg) => {
    if (!msg || !waiting[msg.type]) return;
    const resolve = waiting[msg.type].shift();
    if (resolve) resolve(msg);
  };
  model.on("msg:custom", onMessage);

  copyButton.addEventListener("click", async () => {
    const pending = request("copy", "doc_text");
    const ok = await copyText(pending.then((msg) => msg.text));
    const msg = await pending;
    if (ok) {
      fallback.hidden = true;
      say(`copied ${msg.lines} lines`);
    } else {
      // No clipboard access (http page, permissions): show the text to copy by hand.
      fallback.value = msg.text;
      fallback.hidden = false;
      fallback.select();
      say("clipboard unavailable: select the text below and copy it");
    }
  });

  exportButton.addEventListener("click", async () => {
    const msg = await request("export", "export");
    const url = URL.createObjectURL(new Blob([msg.text], { type: "application/x-ndjson" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = msg.filename || "dgwidgets-session.jsonl";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    say(`saved ${link.download}`);
  });

  model.on("change:rows", drawRows);
  model.on("change:api", drawRows);
  model.on("change:total", drawHeader);
  model.on("change:title", drawHeader);
  drawRows();

  return () => {
    model.off("change:rows", drawRows);
    model.off("change:api", drawRows);
    model.off("change:total", drawHeader);
    model.off("change:title", drawHeader);
    model.off("msg:custom", onMessage);
    scroller.removeEventListener("scroll", onScroll);
    clearTimeout(statusTimer);
  };
}

export default { render };
