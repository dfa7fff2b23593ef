// The experiment page: selected runs on one metric chart.
(function () {
  const data = JSON.parse(document.getElementById("compare-series").textContent);
  const select = document.getElementById("compare-metric");
  const colors = ["#3b6fd8", "#d8613b", "#2e9e5b", "#9b3bd8", "#c9a227", "#3bb5d8", "#d83b7a", "#5b6b8c"];
  let chart = null;
  function draw() {
    const chosen = [...document.querySelectorAll(".compare-run:checked")].map((el) => el.value);
    const runs = data[select.value] || {};
    const datasets = Object.keys(runs).filter((id) => chosen.includes(id)).map((id, i) => ({
      label: `run ${id}`, data: runs[id].map(([x, y]) => ({ x, y })), borderColor: colors[i % colors.length],
      pointRadius: 2, tension: 0.2,
    }));
    if (chart) chart.destroy();
    chart = new Chart(document.getElementById("compare-chart"), {
      type: "line", data: { datasets },
      options: { animation: false, parsing: false, scales: { x: { type: "linear", title: { display: true, text: "step" } } } },
    });
  }
  select.addEventListener("change", draw);
  document.querySelectorAll(".compare-run").forEach((el) => el.addEventListener("change", draw));
  draw();
})();
