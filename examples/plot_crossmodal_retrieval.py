"""
=========================================================
Cross-modal retrieval on Wikipedia with the tensor model
=========================================================

Wikipedia articles come as image-text pairs in ten categories (Rasiwasia et al.
2010): a 128-word bag of visual words for the image and 10 LDA topic proportions
for the text. Given an image, find the texts of its category, and the reverse.
:class:`~statopt.multimodal.TensorCrossModalRegressor` embeds each modality into
the space of the ten categories and ranks items by the model's probability that
query and item share a category. CCA, the classic baseline, maps both modalities
into a shared linear space.
"""

# %%
# The data and the two models
# ---------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.cross_decomposition import CCA
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.preprocessing import StandardScaler

from statopt.datasets import load_wikipedia_crossmodal
from statopt.metrics import mean_average_precision, retrieval_average_precision
from statopt.multimodal import TensorCrossModalRegressor

data = load_wikipedia_crossmodal()
image, text = data.views
print(data.X_train.shape, data.X_test.shape, len(data.categories), "categories")

model = TensorCrossModalRegressor(views=data.views, modalities=data.modalities,
                                  random_state=0).fit(data.X_train, data.y_train)
ours = model.cross_modal_similarity(data.X_test, data.X_test, query_modality="image")

scalers = [StandardScaler().fit(data.X_train[:, columns]) for columns in (image,
                                                                          text)]
cca = CCA(n_components=7, max_iter=1000).fit(
    scalers[0].transform(data.X_train[:, image]),
    scalers[1].transform(data.X_train[:, text]))
image_scores, text_scores = cca.transform(scalers[0].transform(data.X_test[:, image]),
                                          scalers[1].transform(data.X_test[:, text]))
theirs = cosine_similarity(image_scores, text_scores)

for name, similarity in [("tensor model", ours), ("CCA", theirs)]:
    print(f"{name:13s} image->text mAP "
          f"{mean_average_precision(similarity, data.y_test, data.y_test):.3f}, "
          f"text->image mAP "
          f"{mean_average_precision(similarity.T, data.y_test, data.y_test):.3f}")


# %%
# Precision-recall curves
# -----------------------
# Each query ranks all 693 items of the other modality; the curves average the
# interpolated precision of the queries at eleven recall levels.
RECALL_LEVELS = np.linspace(0, 1, 11)


def mean_precision_recall(similarity, labels):
    curves = []
    for scores, label in zip(similarity, labels):
        relevant = (labels == label)[np.argsort(-scores, kind="stable")]
        hits = np.cumsum(relevant)
        precision = hits / np.arange(1, len(hits) + 1)
        recall = hits / relevant.sum()
        # Interpolated precision: the best precision at this recall or beyond.
        best = np.maximum.accumulate(precision[::-1])[::-1]
        curves.append([best[np.searchsorted(recall, r)] for r in RECALL_LEVELS])
    return RECALL_LEVELS, np.mean(curves, axis=0)


fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, (title, transpose) in zip(axes, [("image query, text items", False),
                                         ("text query, image items", True)]):
    for name, similarity in [("tensor model", ours), ("CCA (7 components)", theirs)]:
        recall, precision = mean_precision_recall(
            similarity.T if transpose else similarity, data.y_test)
        ax.plot(recall, precision, marker="o", label=name)
    ax.set_title(title)
    ax.set_xlabel("recall")
axes[0].set_ylabel("interpolated precision")
axes[0].legend()
fig.tight_layout()

# %%
# Which categories are easiest to retrieve
# ----------------------------------------
# Average precision per query, averaged within each query's category, next to the
# learned blend weight a_p: how much the fused score of category p leans on the
# image rather than the text.
per_query = retrieval_average_precision(ours, data.y_test, data.y_test)
by_category = [per_query[data.y_test == k].mean() for k in range(10)]
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
positions = np.arange(10)
axes[0].barh(positions, by_category)
axes[0].set_yticks(positions, data.categories)
axes[0].set_xlabel("image->text average precision")
axes[1].barh(positions, model.blend_weights_, color="tab:orange")
axes[1].set_xlabel("blend weight a_p (1 = image only)")
axes[1].set_xlim(0, 1)
fig.tight_layout()
plt.show()
