// The run page: a lossless live log and a live metric chart (metric_chart.js).
//
// The websocket (htmx ws extension) carries two kinds of frames: HTML status
// fragments, which htmx swaps by id, and JSON log frames, handled here. The
// page keeps the highest seq it has shown; on every (re)connect it asks for
// everything after it. Chunks are shown strictly in seq order: one that
// arrives ahead of a gap waits in a buffer while the page asks for
// {after: lastSeq} again, and a chunk it already has is dropped, so a
// dropped socket loses, duplicates and reorders nothing. The only gap
// allowed is the one the server marks with truncated_before (a bounded tail).
(function () {
  const live = document.getElementById("run-live");
  if (!live) return;
  const runId = live.dataset.run;
  const logEl = document.getElementById(`run-${runId}-log`);
  const connection = document.getElementById(`run-${runId}-connection`);
  const chartRoot = document.getElementById(`run-${runId}-metric-chart`);
  const noMetrics = document.getElementById(`run-${runId}-no-metrics`);
  const MAX_CHARS = 400000; // bounded tail: the full log downloads
  const MAX_PENDING = 20000; // chunks held ahead of a gap; beyond that the backfill brings them
  const RETRY_MS = 3000; // a gap still open this long is asked for again
  let lastSeq = -1;
  const pending = new Map(); // seq -> chunk that arrived ahead of a gap
  let socket = null;
  let askedAfter = null; // the lastSeq a backfill was last asked for
  let retryTimer = null;
  const series = {}; // name -> Map(step -> value)
  const chart = window.MetricChart(chartRoot, { getSeries: () => ({ [`run ${runId}`]: series }) });
  let follow = true;
  let pinnedTop = 0; // where the page last scrolled the log to

  // A multi-process run's lines start with srun --label's "<rank>: ". Each line
  // becomes a span with data-rank (its prefix shown as a tag, the text kept as
  // logged) so a filter can show one rank. A chunk may end inside a line: the
  // rest, in the next chunk, belongs to the same rank.
  const ranked = Number(live.dataset.worldSize || 1) > 1;
  const lineRank = {}; // stream -> rank of the line being continued
  const atLineStart = {}; // stream -> whether the next text starts a line
  const LABEL = /^ *(\d+): /;
  function addRankedLines(span, chunk) {
    const stream = chunk.stream;
    for (const part of chunk.text.split(/(?<=\n)/)) {
      if (!part) continue;
      const line = document.createElement("span");
      line.className = "log-line";
      let rank = lineRank[stream] || "";
      const match = atLineStart[stream] !== false ? LABEL.exec(part) : null;
      if (atLineStart[stream] !== false) rank = match ? match[1] : "";
      if (match) {
        const tag = document.createElement("span");
        tag.className = "log-rank";
        tag.textContent = match[0];
        line.append(tag, part.slice(match[0].length));
      } else {
        line.textContent = part;
      }
      line.dataset.rank = rank;
      lineRank[stream] = rank;
      atLineStart[stream] = part.endsWith("\n");
      span.appendChild(line);
    }
  }
  const rankFilter = document.getElementById(`run-${runId}-rank-filter`);
  if (rankFilter) {
    const rule = document.createElement("style");
    document.head.appendChild(rule);
    const filterBy = () => {
      const rank = rankFilter.value.trim();
      rule.textContent = rank === "" ? "" : `#run-${runId}-log .log-line:not([data-rank="${Number(rank)}"]) { display: none; }`;
      logEl.dataset.rank = rank;
      if (follow) logEl.scrollTop = logEl.scrollHeight;
    };
    rankFilter.addEventListener("change", filterBy);
    rankFilter.addEventListener("input", filterBy);
  }

  // Scroll events arrive after the fact: one caused by the page's own scroll to
  // the end may be read after more lines came, so only a scroll above where the
  // page put it, and not back at the end, means the reader left the end.
  logEl.addEventListener("scroll", () => {
    const atEnd = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 20;
    follow = atEnd || logEl.scrollTop >= pinnedTop - 2;
  });

  function askAfter() {
    if (!socket) return;
    askedAfter = lastSeq;
    socket.send(JSON.stringify({ after: lastSeq }));
  }

  function checkGap() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (!pending.size) return;
    if (askedAfter !== lastSeq) askAfter();
    retryTimer = setTimeout(() => {
      askedAfter = null;
      checkGap();
    }, RETRY_MS);
  }

  function appendChunks(chunks, truncatedBefore) {
    // The server sends at most the last few hundred missing chunks: say where a gap is.
    if (truncatedBefore !== undefined && truncatedBefore !== null && truncatedBefore > lastSeq + 1) {
      const note = document.createElement("span");
      note.className = "log-note";
      note.textContent = "… more output here: see the full log download …\n";
      logEl.appendChild(note);
      lastSeq = truncatedBefore - 1;
      for (const seq of pending.keys()) if (seq <= lastSeq) pending.delete(seq);
    }
    for (const chunk of chunks) {
      if (chunk.seq > lastSeq && pending.size < MAX_PENDING) pending.set(chunk.seq, chunk);
    }
    const fragment = document.createDocumentFragment();
    let chunk;
    while ((chunk = pending.get(lastSeq + 1))) {
      pending.delete(chunk.seq);
      const span = document.createElement("span");
      span.className = `log-${chunk.stream}`;
      span.dataset.seq = chunk.seq;
      if (ranked && chunk.stream !== "system") addRankedLines(span, chunk);
      else span.textContent = chunk.text;
      fragment.appendChild(span);
      lastSeq = chunk.seq;
    }
    logEl.appendChild(fragment);
    logEl.dataset.lastSeq = lastSeq;
    let total = logEl.textContent.length;
    while (total > MAX_CHARS && logEl.firstChild) {
      total -= logEl.firstChild.textContent.length;
      logEl.removeChild(logEl.firstChild);
    }
    if (follow) {
      logEl.scrollTop = logEl.scrollHeight;
      pinnedTop = logEl.scrollTop;
    }
    checkGap();
  }

  function addMetrics(points, reset) {
    if (reset) for (const name of Object.keys(series)) delete series[name];
    for (const p of points) {
      if (!series[p.name]) series[p.name] = new Map();
      series[p.name].set(p.step, p.value);
    }
    const names = Object.keys(series).sort();
    if (!names.length) return;
    noMetrics.hidden = true;
    chartRoot.hidden = false;
    chart.setMetrics(names);
    chart.update();
  }

  // The run ends: the status block (pushed or re-read) says so; "live" is no longer news.
  const terminal = new Set((live.dataset.terminal || "").split(" "));
  function ended() {
    const status = document.getElementById(`run-${runId}-status`);
    return Boolean(status && terminal.has(status.dataset.status));
  }
  function showConnection(text, className) {
    if (ended()) {
      connection.hidden = true;
      return;
    }
    connection.hidden = false;
    connection.textContent = text;
    connection.className = className;
  }
  new MutationObserver(() => {
    if (ended()) connection.hidden = true;
  }).observe(live, { childList: true, subtree: true, attributes: true, attributeFilter: ["data-status"] });

  live.addEventListener("htmx:wsOpen", (event) => {
    showConnection("live", "badge text-bg-success");
    socket = event.detail.socketWrapper;
    askAfter();
  });
  live.addEventListener("htmx:wsClose", () => {
    showConnection("reconnecting…", "badge text-bg-warning");
  });
  live.addEventListener("htmx:wsBeforeMessage", (event) => {
    const text = event.detail.message;
    if (typeof text !== "string" || text[0] !== "{") return; // HTML: htmx swaps it
    event.preventDefault();
    const frame = JSON.parse(text);
    if (frame.type !== "log") return;
    appendChunks(frame.chunks, frame.truncated_before);
    addMetrics(frame.metrics, frame.reset_metrics);
  });
})();
