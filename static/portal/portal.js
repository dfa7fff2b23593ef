// Toasts for Django messages, including those that arrive after htmx swaps.
function showToasts(root) {
  (root || document).querySelectorAll(".toast:not(.showing):not(.show)").forEach((el) => {
    bootstrap.Toast.getOrCreateInstance(el).show();
  });
}
document.addEventListener("DOMContentLoaded", () => showToasts());
document.body.addEventListener("htmx:afterSettle", (e) => showToasts(e.target));
// A refused or failed htmx request says so instead of doing nothing.
document.body.addEventListener("htmx:responseError", (e) => {
  const status = e.detail.xhr.status;
  const text = status === 403 ? "Your role in this workspace does not allow that." : `The server answered ${status}.`;
  const toast = document.createElement("div");
  toast.className = "toast text-bg-danger border-0";
  toast.innerHTML = '<div class="toast-body"></div>';
  toast.firstChild.textContent = text;
  document.getElementById("toasts").appendChild(toast);
  showToasts();
});
// Copy buttons: data-copy names the field whose text they copy.
document.addEventListener("click", async (e) => {
  const button = e.target.closest("[data-copy]");
  if (!button) return;
  const field = document.querySelector(button.dataset.copy);
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
  } catch {
    document.execCommand("copy"); // no clipboard API (plain http on another host)
  }
  const label = button.querySelector("span");
  if (label) label.textContent = "Copied";
});
