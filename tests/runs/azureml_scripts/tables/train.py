"""Lists, rows, tables and images: log_list, log_row, log_table, log_image."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from azureml.core import Run  # noqa: E402

run = Run.get_context()
run.log_list("accuracies", [0.61, 0.72, 0.83])
losses = []
for epoch in range(4):
    loss = round(1.0 / (epoch + 1), 4)
    losses.append(loss)
    run.log_row("learning curve", epoch=epoch, loss=loss, phase="train")
run.log_table("confusion", {"label": ["cat", "dog"], "cat": [5, 1], "dog": [2, 7]})

fig, ax = plt.subplots(figsize=(4, 3))
ax.plot(range(len(losses)), losses, marker="o")
ax.set_xlabel("epoch")
ax.set_ylabel("loss")
ax.set_title("learning curve")
run.log_image("loss plot", plot=fig)

plt.figure(figsize=(3, 3))
plt.bar(["cat", "dog"], [6, 8])
plt.savefig("counts.png")
run.log_image("class counts", path="counts.png")
print("logged", sorted(run.get_metrics()))
