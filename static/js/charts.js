/* Chart helpers shared by the console pages (Chart.js is loaded from settings.CHARTJS_URL). */
window.rmnCharts = window.rmnCharts || {};
window.rmnCharts.palette = ["#3b82f6", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16"];
