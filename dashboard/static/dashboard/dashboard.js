// The usage dashboard: one Chart.js chart per figure, from the JSON the page
// embeds next to it (the same rows as its plain table), and the Table toggle.
(function () {
  if (typeof Chart === "undefined") return;
  const COLORS = ["#3b6fd8", "#2e9e5b", "#d8613b", "#9b3bd8", "#c9a227", "#3bb5d8", "#d83b7a", "#5b6b8c"];
  for (const canvas of document.querySelectorAll("canvas[id^='figure-'][id$='-chart']")) {
    const key = canvas.id.slice("figure-".length, -"-chart".length);
    const data = document.getElementById(`figure-${key}-data`);
    if (!data) continue;
    const spec = JSON.parse(data.textContent);
    const doughnut = spec.type === "doughnut";
    const datasets = spec.datasets.map((d, i) => ({
      label: d.label,
      data: d.data,
      backgroundColor: doughnut ? spec.labels.map((_, j) => COLORS[j % COLORS.length]) : COLORS[i % COLORS.length],
      borderWidth: doughnut ? 1 : 0,
    }));
    const valueAxis = { beginAtZero: true };
    if (spec.max) valueAxis.max = spec.max;
    new Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        indexAxis: spec.horizontal ? "y" : "x",
        scales: doughnut ? {} : spec.horizontal ? { x: valueAxis } : { y: valueAxis },
        plugins: { legend: { display: doughnut || datasets.length > 1, position: doughnut ? "right" : "top", labels: { boxWidth: 12 } } },
      },
    });
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest(".figure-toggle");
    if (!button) return;
    const table = document.getElementById(button.getAttribute("aria-controls"));
    const chart = table.parentElement.querySelector(".figure-chart");
    const showTable = table.hidden;
    table.hidden = !showTable;
    if (chart) chart.hidden = showTable;
    button.setAttribute("aria-expanded", String(showTable));
    button.innerHTML = showTable ? '<i class="bi bi-bar-chart"></i> Chart' : '<i class="bi bi-table"></i> Table';
  });
})();
