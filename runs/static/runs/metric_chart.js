// One metric chart with the controls both the run page and the experiment
// page use: which metrics to plot (several at once), what goes on the x-axis
// ("step", or another metric's value at the same step: mse against alpha)
// and log scales.
//
// MetricChart(root, {getSeries}) reads its controls from inside ``root``:
//   .metric-y        checkboxes, one per metric (value = the metric's name)
//   .metric-x        a select: "step" or a metric's name
//   .metric-log-y / .metric-log-x   checkboxes
//   canvas.metric-canvas
// getSeries() returns {label: {metric: Map(step -> value)}}, one label per
// run (the run page has one). update() redraws; setMetrics(names) refreshes
// the choices when new metrics arrive.
(function () {
  const COLORS = ["#3b6fd8", "#d8613b", "#2e9e5b", "#9b3bd8", "#c9a227", "#3bb5d8", "#d83b7a", "#5b6b8c"];

  function points(bySeries, yName, xName, logX, logY) {
    const ys = bySeries[yName];
    if (!ys) return [];
    const xs = xName === "step" ? null : bySeries[xName];
    if (xName !== "step" && !xs) return [];
    const out = [];
    for (const [step, y] of ys) {
      const x = xs ? xs.get(step) : step;
      if (x === undefined || x === null) continue; // the x metric was not logged at this step
      if ((logX && x <= 0) || (logY && y <= 0)) continue; // a log axis has no place for these
      out.push({ x, y, step });
    }
    out.sort((a, b) => a.x - b.x || a.step - b.step);
    return out;
  }

  function MetricChart(root, { getSeries }) {
    const canvas = root.querySelector("canvas.metric-canvas");
    const xSelect = root.querySelector(".metric-x");
    const logY = root.querySelector(".metric-log-y");
    const logX = root.querySelector(".metric-log-x");
    const yBox = root.querySelector(".metric-y-list");
    let chart = null;

    function chosen() {
      return [...root.querySelectorAll(".metric-y:checked")].map((el) => el.value);
    }

    function update() {
      if (typeof Chart === "undefined") return;
      const series = getSeries();
      const labels = Object.keys(series);
      const xName = xSelect.value || "step";
      const datasets = [];
      for (const yName of chosen()) {
        for (const label of labels) {
          const data = points(series[label], yName, xName, logX.checked, logY.checked);
          const name = labels.length > 1 ? `${label} · ${yName}` : yName;
          const color = COLORS[datasets.length % COLORS.length];
          datasets.push({ label: name, data, borderColor: color, backgroundColor: color, pointRadius: 2, tension: 0.2 });
        }
      }
      const scales = {
        x: { type: logX.checked ? "logarithmic" : "linear", title: { display: true, text: xName } },
        y: { type: logY.checked ? "logarithmic" : "linear", title: { display: true, text: chosen().join(", ") } },
      };
      if (!chart) {
        chart = new Chart(canvas, {
          type: "line",
          data: { datasets },
          options: {
            animation: false,
            parsing: false,
            scales,
            plugins: {
              tooltip: {
                callbacks: {
                  afterLabel: (item) => (xSelect.value !== "step" ? `step ${item.raw.step}` : ""),
                },
              },
            },
          },
        });
      } else {
        chart.data.datasets = datasets;
        chart.options.scales = scales;
        chart.update("none");
      }
    }

    function setMetrics(names) {
      const have = [...root.querySelectorAll(".metric-y")].map((el) => el.value);
      if (have.join() === names.join()) return;
      const checked = new Set(chosen());
      if (!checked.size && names.length) checked.add(names[0]);
      yBox.replaceChildren(
        ...names.map((name, i) => {
          const id = `${root.id}-y-${i}`;
          const wrap = document.createElement("div");
          wrap.className = "form-check form-check-inline";
          wrap.innerHTML = '<input class="form-check-input metric-y" type="checkbox"><label class="form-check-label small"></label>';
          const input = wrap.firstChild;
          input.id = id;
          input.value = name;
          input.checked = checked.has(name);
          const label = wrap.lastChild;
          label.htmlFor = id;
          label.textContent = name;
          return wrap;
        }),
      );
      const x = xSelect.value || "step";
      xSelect.replaceChildren(new Option("step", "step"), ...names.map((n) => new Option(n, n)));
      xSelect.value = x === "step" || names.includes(x) ? x : "step";
    }

    root.addEventListener("change", (event) => {
      if (event.target.matches(".metric-y, .metric-x, .metric-log-y, .metric-log-x")) update();
    });
    return { update, setMetrics, chart: () => chart };
  }

  window.MetricChart = MetricChart;
})();
