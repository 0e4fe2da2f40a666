"""The study's own published numbers (../shared/seed, chapters 3–7): ONE table, every model's.

Each entry is logged by :mod:`ml.pipeline` on the matching run under the replication
protocol as split ``published`` (``Run.log_published``), so ``ml.metrics`` holds "ours"
and "theirs" together. Only numbers stated in the study's text are here; where it gave a
figure without a number, :data:`FIGURES` says what the figure showed (stored as
``ml.artifacts.published`` of the artifact with that name).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    metric: str
    value: float
    source: str
    step: int | None = None  # the x of a curve (K of the KNN ablation), None for a single figure


#: The study's KNN feature-ablation table (ch. 4-1-3): removed features → (K, NRMSE, R²).
KNN_ABLATION: dict[tuple[str, ...], tuple[int, float, float]] = {
    (): (3, 0.0382, 0.5071),
    ("danceability", "tempo"): (3, 0.0377, 0.5203),
    ("valence",): (4, 0.0373, 0.5294),
    ("instrumentalness", "tempo"): (5, 0.0376, 0.5227),
    ("danceability", "key", "instrumentalness", "tempo"): (7, 0.0366, 0.5478),
    ("danceability", "key", "valence", "instrumentalness", "tempo"): (14, 0.0375, 0.5255),
}


def ablation_label(removed: tuple[str, ...]) -> str:
    """The name of an ablation configuration in metric names: ``all`` or ``without a/b``."""
    return "all" if not removed else "without " + "/".join(removed)


def _ablation() -> tuple[Published, ...]:
    out = []
    for removed, (k, nrmse, r2) in KNN_ABLATION.items():
        label = ablation_label(removed)
        out.append(Published(f"nrmse[{label}]", nrmse, "ch. 4-1-3 ablation", step=k))
        out.append(Published(f"r2[{label}]", r2, "ch. 4-1-3 ablation", step=k))
    return tuple(out)


_KNN_BEST = "ch. 4-1-3: best, K=7 without Danceability/Key/Instrumentalness/Tempo"
_LINEAR = "ch. 4-1-2: 9:1 split, R² 0.5679"

#: (task, model) → the study's figures for that model under its own protocol (replication).
PUBLISHED: dict[tuple[str, str], tuple[Published, ...]] = {
    ("ols_like_count", "ols"): (Published("r2", 0.461, "ch. 4-1-1: R² of likeCount on Stream (highest)"),),
    ("ols_comment_count", "ols"): (Published("r2", 0.082, "ch. 4-1-1: R² of commentCount on Stream (lowest)"),),
    ("stream_from_youtube", "linear_regression"): (Published("r2", 0.5679, _LINEAR),),
    ("stream_from_youtube", "ridge"): (Published("r2", 0.5679, _LINEAR),),
    ("stream_from_youtube", "lasso"): (Published("r2", 0.5679, _LINEAR),),
    ("views_knn", "knn_regression"): (
        Published("nrmse", 0.0366, _KNN_BEST),
        Published("r2", 0.5478, _KNN_BEST),
        *_ablation(),
    ),
    ("stream_gap_label", "random_forest"): (Published("accuracy", 0.7646, "ch. 6-2: before GridSearchCV (8:2 split)"),),
    ("stream_gap_label", "random_forest_grid"): (Published("accuracy", 0.7882, "ch. 6-2: after GridSearchCV (8:2 split)"),),
    ("views_above_mean_svm", "svm_kernel_trick"): (Published("accuracy", 0.89, "ch. 5-1-4: 7:3 split, 'about 0.89'"),),
    # The deep models (ML suite II).
    ("views_knn", "tabnet_regressor"): (
        Published("r2", 0.4252, "ch. 4-2-1 / 6-3: TabNetRegressor after Optuna (from -0.1622)"),
        Published("nrmse", 0.0385, "ch. 4-2-1 / 6-3: TabNetRegressor after Optuna (from 0.0548)"),
    ),
    ("views_knn", "tab_transformer_regressor"): (
        Published("r2", 0.8487, "ch. 4-2-2: the study's single-token 'TabTransformer'"),
        Published("nrmse", 0.0353, "ch. 4-2-2: the study's single-token 'TabTransformer'"),
    ),
    ("stream_gap_label", "tabnet_classifier"): (
        Published("accuracy", 0.695, "ch. 5-2-1: TabNetClassifier, early stop at epoch 53"),
    ),
    ("stream_gap_label", "tabpfn_classifier"): (
        Published("accuracy", 0.703, "ch. 5-2-2: trained on 5 % of rows, scored on 100 test rows"),
    ),
}

_SHAP = "ch. 7: the study gave up on SHAP as too slow"
_AE = "ch. 3-2-1: PCA shows cohesive clusters; t-SNE separates some clusters"
_VAE = "ch. 3-2-2: PCA of VAE clusters: points not grouped, clustering judged worse than the MLP"

#: What the study showed for a figure, by artifact name (``ml.artifacts.published``).
FIGURES: dict[str, str] = {
    "kmeans_elbow": "ch. 6-1: inertia elbow in k = 4..6; k = 4 chosen",
    "dbscan_k_distance": "ch. 6-1: minPts = 100, steep rise at eps 4..7; eps = 6 chosen",
    "kmeans_pca": "ch. 3-1-1: K-Means k=4 separates well apart from some outliers",
    "dbscan_pca": "ch. 3-1-2: clusters less clear than K-Means; DBSCAN judged unsuitable",
    "kmeans_profiles": "ch. 3-1-1: Danceability and Valence follow mean views most closely; Energy ~ Liveness",
    "correlation_heatmap": "ch. 4-1-1: |r| >= 0.2 shown",
    "stream_vs_views": "ch. 4-1-1: interactive scatter used to find outliers (children's music)",
    "ols_fits": "ch. 4-1-1: R² likes 0.461 (highest), comments 0.082 (lowest)",
    "knn_ablation": "ch. 4-1-3: best NRMSE 0.0366 / R² 0.5478 at K=7 without Danceability, Key, "
                    "Instrumentalness, Tempo",
    "views_above_mean_svm_svm_kernel_trick_confusion": "ch. 5-1-4: accuracy about 0.89",
    "random_forest_grid_scores": "ch. 6-2: RF 0.7646 -> 0.7882; best RF {max_depth 20, n_estimators 200}",
    "random_forest_shap": _SHAP,
    "gradient_boosting_shap": _SHAP,
    "xgboost_shap": _SHAP,
    "mlp_autoencoder_kmeans_pca": _AE,
    "mlp_autoencoder_kmeans_tsne": _AE,
    "vae_kmeans_pca": _VAE,
    "vae_kmeans_tsne": _VAE,
    "tabnet_regressor_optuna": "ch. 6-3: RMSE 351.5M -> 247.2M, R² -0.1622 -> 0.4252",
    "tabnet_classifier_importances": "ch. 5-2-1: Loudness, Valence, Energy contribute most",
}


def for_run(task: str | None, model: str) -> tuple[Published, ...]:
    """The study's figures for one model on one task (empty when it published none)."""
    return PUBLISHED.get((task or "", model), ())


def figure_note(name: str) -> str | None:
    """What the study showed for the figure of this artifact name, if anything."""
    return FIGURES.get(name)


# --------------------------------------------------------------------------- published vs ours

#: Official music videos in the study's file (the rows its ML used; the Kaggle file's
#: ``official_video`` is true in 15,723 of 20,718 rows). Other row counts mean other data.
STUDY_ROWS = 15_723
#: |ours − study's| at or below this is "agrees" (the study printed 3–4 decimals).
AGREES_WITHIN = 0.005

_COUNTS = "different counts: the study re-crawled YouTube, Kaggle's counts stand in here"
_YEAR = "different features: no published_year without a crawl"
_LEAK = "leak: stream is half the label"

#: (task, model) → one line: why our replication figure can differ from the study's (on the study's rows).
DIFFERENCE_REASONS: dict[tuple[str, str], str] = {
    ("ols_view_count", "ols"): _COUNTS,
    ("ols_like_count", "ols"): _COUNTS,
    ("ols_comment_count", "ols"): _COUNTS,
    ("stream_from_youtube", "linear_regression"): _COUNTS,
    ("stream_from_youtube", "ridge"): _COUNTS + " (one R² printed for all three linear models)",
    ("stream_from_youtube", "lasso"): _COUNTS + " (one R² printed for all three linear models)",
    ("views_knn", "knn_regression"): _YEAR + "; " + _COUNTS + "; a different best of 300 picked on the hold-out",
    ("stream_gap_label", "random_forest"): _LEAK + ", so the study's re-crawled counts move it; " + _YEAR
                                           + "; budget: depth ≤ 10",
    ("stream_gap_label", "random_forest_grid"): _LEAK + "; " + _YEAR + "; budget: a 2-candidate grid",
    ("views_above_mean_svm", "svm_kernel_trick"): _COUNTS + " (the study said 'about 0.89')",
    ("views_knn", "tabnet_regressor"): "budget: 3 short Optuna trials, ≤ 15 epochs (study: 200); " + _YEAR,
    ("views_knn", "tab_transformer_regressor"): "different model: the study's attended over one token; "
                                                "budget: ≤ 10 epochs",
    ("stream_gap_label", "tabnet_classifier"): _LEAK + "; budget: ≤ 15 epochs (study: 53); " + _YEAR,
    ("stream_gap_label", "tabpfn_classifier"): "different rows: the study scored 100 test rows, here the whole "
                                               "test split",
}


def difference_reason(task: str | None, model: str, ours: float, published: float, rows: int | None) -> str:
    """One line: why our figure differs from the study's (or that it agrees)."""
    delta = ours - published
    if abs(delta) <= AGREES_WITHIN:
        return f"agrees (|Δ| ≤ {AGREES_WITHIN})"
    if rows is not None and rows != STUDY_ROWS:
        return f"different rows: {rows:,} rows, not the study's {STUDY_ROWS:,} (other data, e.g. the demo sample)"
    return DIFFERENCE_REASONS.get((task or "", model), "no reason on record")
