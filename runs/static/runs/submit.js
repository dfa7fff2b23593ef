// The submit form: folder paths, environment fields, and a previewed snapshot.
(function () {
  const form = document.getElementById("run-submit-form");
  if (!form) return;
  const folder = document.getElementById("folder-input");
  const archive = document.getElementById("archive-input");
  const paths = document.getElementById("folder-paths");
  // Browsers drop the folders from multipart file names: send the relative paths alongside.
  folder.addEventListener("change", () => {
    paths.value = [...folder.files].map((f) => f.webkitRelativePath || f.name).join("\n");
    if (folder.files.length) archive.value = "";
  });
  archive.addEventListener("change", () => {
    if (archive.files.length) { folder.value = ""; paths.value = ""; }
  });
  // Once previewed, the snapshot is stored: submit sends its id, not the files again.
  document.body.addEventListener("htmx:afterSwap", (event) => {
    const preview = document.getElementById("snapshot-preview");
    if (!preview || !preview.contains(event.target) && event.target !== preview) return;
    const stored = preview.querySelector("input[name=snapshot]");
    folder.disabled = archive.disabled = !!stored;
    const useFile = document.getElementById("use-environment-file");
    if (useFile) useFile.addEventListener("click", () => {
      // The folder's own environment: pre-fill it; the user may still pick the target's Python.
      const kind = form.querySelector(`input[name=environment][value=${useFile.dataset.kind}]`);
      kind.checked = true;
      form.querySelector("textarea[name=requirements]").value =
        JSON.parse(document.getElementById("environment-file-text").textContent);
      showEnv();
      useFile.textContent = `Using ${useFile.dataset.path}`;
      useFile.classList.replace("btn-outline-primary", "btn-success");
    });
    const change = document.getElementById("change-files");
    if (change) change.addEventListener("click", () => {
      folder.disabled = archive.disabled = false;
      preview.replaceChildren();
    });
  });
  function showEnv() {
    const kind = form.querySelector("input[name=environment]:checked");
    const pip = kind && (kind.value === "pip" || kind.value === "conda");  // both take the text box
    document.getElementById("env-user").hidden = pip;
    document.getElementById("env-pip").hidden = !pip;
  }
  form.querySelectorAll("input[name=environment]").forEach((el) => el.addEventListener("change", showEnv));
  showEnv();
  // Node count, processes per node and partition: for cluster targets only, with that target's partitions.
  const placement = JSON.parse(document.getElementById("cluster-partitions").textContent);
  const targetSelect = form.querySelector("select[name=target]");
  const clusterFields = document.getElementById("cluster-fields");
  const partitionSelect = form.querySelector("select[name=partition]");
  const allGroups = partitionSelect ? [...partitionSelect.querySelectorAll("optgroup")] : [];
  function showPlacement() {
    const partitions = placement[targetSelect.value];
    clusterFields.hidden = !partitions;
    if (!partitions) return;
    const name = targetSelect.selectedOptions[0] ? targetSelect.selectedOptions[0].textContent : "";
    for (const group of allGroups) {
      const mine = group.label === name;
      group.hidden = group.disabled = !mine;
      if (!mine && group.contains(partitionSelect.selectedOptions[0])) partitionSelect.value = "";
    }
  }
  if (targetSelect && clusterFields) {
    targetSelect.addEventListener("change", showPlacement);
    showPlacement();
  }
})();
