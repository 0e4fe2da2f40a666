"""The report's own published numbers (../shared/seed, chapters 3–6), for side-by-side comparison.

Each entry is logged on the matching run as split ``published`` (``Run.log_published``), so
``ml.metrics`` holds "ours" and "theirs" together. Only numbers stated in the report's
text are here; where it gave a figure without a number, the ``FIGURES`` note says what the
figure showed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    metric: str
    value: float
    source: str


#: (task, model) → the report's figures for that model under its own protocol.
PUBLISHED: dict[tuple[str, str], tuple[Published, ...]] = {
    ("ols_like_count", "ols"): (Published("r2", 0.461, "ch. 4-1-1: R² of likeCount on Stream (highest)"),),
    ("ols_comment_count", "ols"): (Published("r2", 0.082, "ch. 4-1-1: R² of commentCount on Stream (lowest)"),),
    ("stream_from_youtube", "linear_regression"): (Published("r2", 0.5679, "ch. 4-1-2: 9:1 split, R² 0.5679"),),
    ("stream_from_youtube", "ridge"): (Published("r2", 0.5679, "ch. 4-1-2: 9:1 split, R² 0.5679"),),
    ("stream_from_youtube", "lasso"): (Published("r2", 0.5679, "ch. 4-1-2: 9:1 split, R² 0.5679"),),
    ("views_knn", "knn_regression"): (
        Published("nrmse", 0.0366, "ch. 4-1-3: best, K=7 without Danceability/Key/Instrumentalness/Tempo"),
        Published("r2", 0.5478, "ch. 4-1-3: best, K=7 without Danceability/Key/Instrumentalness/Tempo"),
    ),
    ("stream_gap_label", "random_forest"): (Published("accuracy", 0.7646, "ch. 6-2: before GridSearchCV (8:2 split)"),),
    ("stream_gap_label", "random_forest_grid"): (Published("accuracy", 0.7882, "ch. 6-2: after GridSearchCV (8:2 split)"),),
    ("views_above_mean_svm", "svm_kernel_trick"): (Published("accuracy", 0.89, "ch. 5-1-4: 7:3 split, 'about 0.89'"),),
}

#: The report's KNN feature-ablation table (ch. 4-1-3): removed features → (K, NRMSE, R²).
KNN_ABLATION: dict[tuple[str, ...], tuple[int, float, float]] = {
    (): (3, 0.0382, 0.5071),
    ("danceability", "tempo"): (3, 0.0377, 0.5203),
    ("valence",): (4, 0.0373, 0.5294),
    ("instrumentalness", "tempo"): (5, 0.0376, 0.5227),
    ("danceability", "key", "instrumentalness", "tempo"): (7, 0.0366, 0.5478),
    ("danceability", "key", "valence", "instrumentalness", "tempo"): (14, 0.0375, 0.5255),
}

#: What the report's figures showed, by artifact name (no number was printed for them).
FIGURES: dict[str, str] = {
    "kmeans_elbow": "ch. 6-1: inertia elbow in k = 4..6; k = 4 chosen",
    "dbscan_k_distance": "ch. 6-1: minPts = 100, steep rise at eps 4..7; eps = 6 chosen",
    "kmeans_pca": "ch. 3-1-1: K-Means k=4 separates well apart from some outliers",
    "dbscan_pca": "ch. 3-1-2: clusters less clear than K-Means; DBSCAN judged unsuitable",
    "cluster_profiles": "ch. 3-1-1: Danceability and Valence follow mean views most closely; Energy ~ Liveness",
    "correlation_heatmap": "ch. 4-1-1: |r| >= 0.2 shown",
    "ols_fits": "ch. 4-1-1: R² likes 0.461 (highest), comments 0.082 (lowest)",
    "knn_ablation": "ch. 4-1-3: best NRMSE 0.0366 / R² 0.5478 at K=7 without Danceability, Key, Instrumentalness, Tempo",
    "svm_kernel_trick_confusion": "ch. 5-1-4: accuracy about 0.89",
    "grid_search": "ch. 6-2: RF 0.7646 -> 0.7882; best RF {max_depth 20, n_estimators 200}",
}


def for_run(task: str, model: str) -> tuple[Published, ...]:
    return PUBLISHED.get((task, model), ())
