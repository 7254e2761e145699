// The patient page's paged lists (templates/staff/_pagination.html): htmx swaps one list in
// place and keeps the focus on the pager link it followed when the new page has it too; when it
// has not (the last page has no "Next"), the focus goes to the list's heading, not the page's top.
document.addEventListener("htmx:afterSettle", (event) => {
  const id = event.detail.target && event.detail.target.id;
  const list = id && document.getElementById(id);
  if (!list || !list.matches("[data-paged-list]") || list.contains(document.activeElement)) return;
  const heading = list.querySelector("h2");
  heading.setAttribute("tabindex", "-1");
  heading.focus();
});
