// The day view: the booking form opens in a drawer beside the grid; one tab stop per chair
// column with the arrow keys moving between its cells (Enter books or opens); the "now" line
// follows the clock.
(() => {
  const grid = document.querySelector(".day-grid");

  // The drawer opens when htmx has put the booking form into it.
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id !== "side-panel" || !window.bootstrap) return;
    const drawer = document.getElementById("booking-drawer");
    bootstrap.Offcanvas.getOrCreateInstance(drawer).show();
  });

  if (!grid) return;
  const items = () => Array.from(grid.querySelectorAll("[data-column][data-row]"));
  const byColumn = () => {
    const columns = new Map();
    for (const item of items()) {
      const column = Number(item.dataset.column);
      if (!columns.has(column)) columns.set(column, []);
      columns.get(column).push(item);
    }
    for (const list of columns.values()) list.sort((a, b) => Number(a.dataset.row) - Number(b.dataset.row));
    return columns;
  };

  // Roving tab stops: in each column only one cell is in the tab order (the first from now on).
  const nowRow = Number(grid.querySelector(".day-grid-now")?.className.match(/dg-r(\d+)/)?.[1] || 0);
  for (const list of byColumn().values()) {
    const first = list.find((item) => Number(item.dataset.row) >= nowRow) || list[0];
    for (const item of list) item.tabIndex = item === first ? 0 : -1;
  }

  const move = (from, to) => {
    if (!to) return;
    from.tabIndex = -1;
    to.tabIndex = 0;
    to.focus();
  };
  grid.addEventListener("keydown", (event) => {
    const current = event.target.closest("[data-column][data-row]");
    if (!current) return;
    const columns = byColumn();
    const column = Number(current.dataset.column);
    const list = columns.get(column);
    const index = list.indexOf(current);
    const row = Number(current.dataset.row);
    const nearest = (other) => {
      const cells = columns.get(other);
      if (!cells) return null;
      return cells.reduce((best, cell) => (Math.abs(cell.dataset.row - row) < Math.abs(best.dataset.row - row) ? cell : best));
    };
    const keys = {
      ArrowDown: () => list[index + 1],
      ArrowUp: () => list[index - 1],
      Home: () => list[0],
      End: () => list[list.length - 1],
      ArrowRight: () => nearest(column + 1),
      ArrowLeft: () => nearest(column - 1),
    };
    if (!(event.key in keys)) return;
    event.preventDefault();
    const target = keys[event.key]();
    if (!target) return;
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      // Each column keeps its own tab stop: the one left behind stays where it was.
      for (const cell of columns.get(Number(target.dataset.column))) cell.tabIndex = -1;
      target.tabIndex = 0;
      target.focus();
    } else {
      move(current, target);
    }
  });

  // The "now" line moves with the clock (the page was drawn at one minute).
  const line = grid.querySelector(".day-grid-now");
  if (line && grid.dataset.today) {
    const [hours, minutes] = grid.dataset.origin.split(":").map(Number);
    const step = Number(grid.dataset.step);
    const clock = new Intl.DateTimeFormat("en-GB", { timeZone: grid.dataset.timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    const rows = grid.querySelectorAll(".day-grid-time").length;
    const place = () => {
      const [h, m] = clock.format(new Date()).split(":").map(Number);
      const offset = (h * 60 + m - (hours * 60 + minutes)) / step;
      if (offset < 0 || offset >= rows) {
        line.hidden = true;
        return;
      }
      line.style.gridRowStart = String(Math.floor(offset) + 2);
      line.style.marginTop = `calc(${offset % 1} * var(--day-row))`;
      line.setAttribute("aria-label", `Now, ${clock.format(new Date())}`);
    };
    setInterval(place, 60 * 1000);
  }
})();

// A button that prints the page (an inline onclick would be refused by the CSP).
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
});
