/* Chart helpers shared by the console pages (Chart.js from settings.CHARTJS_URL, else the local vendor copy). */
window.rmnCharts = window.rmnCharts || {};
window.rmnCharts.palette = ["#3b82f6", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16"];

/* True when Chart.js is there; otherwise every chart box on the page says why it stays empty. */
window.rmnCharts.ready = function () {
  if (typeof window.Chart !== "undefined") return true;
  document.querySelectorAll(".chart-box").forEach(function (box) {
    if (box.querySelector(".chart-unavailable")) return;
    var note = document.createElement("div");
    note.className = "chart-empty chart-unavailable";
    note.setAttribute("role", "status");
    note.textContent = "Chart unavailable: Chart.js could not be loaded from the CDN nor from this server's copy " +
      "(run scripts/setup.sh to vendor it, or set CHARTJS_URL).";
    box.appendChild(note);
  });
  return false;
};
