"""`evaluate`'s image-classification evaluator, passing the pain metrics probability vectors.

The stock `evaluate.evaluator("image-classification")` hands a metric each image's top label; the
pain metrics (macro AUROC, expected-PSPI MAE, ...) need the probability of every PSPI class, so
this subclass asks the pipeline for all classes and orders their scores by class index:

    from evaluate_metrics import load_pain_metrics
    from vitpain_hf.evaluator import PSPIEvaluator

    results = PSPIEvaluator().compute(model_or_pipeline="path/to/model", data=ds["test"], metric=load_pain_metrics(),
                                      input_column="image", label_column="pspi")  # or a pipeline object
"""

from __future__ import annotations

from evaluate.evaluator import ImageClassificationEvaluator


class PSPIEvaluator(ImageClassificationEvaluator):
    """ImageClassificationEvaluator whose predictions are (C,) probability vectors, class k = the
    model's label k (or `label_mapping[label]` when a mapping is given)."""

    def prepare_pipeline(self, model_or_pipeline, *args, **kwargs):
        from transformers import Pipeline

        if isinstance(model_or_pipeline, Pipeline):
            # evaluate 0.4.6 tests Pipeline objects against transformers.TFPreTrainedModel, gone in transformers 5
            return model_or_pipeline
        return super().prepare_pipeline(model_or_pipeline, *args, **kwargs)

    def call_pipeline(self, pipe, *args, **kwargs):
        self._label2id = {str(k): int(v) for k, v in pipe.model.config.label2id.items()}
        self._num_labels = pipe.model.config.num_labels
        return super().call_pipeline(pipe, *args, top_k=self._num_labels, **kwargs)

    def predictions_processor(self, predictions, label_mapping):
        index = label_mapping if label_mapping is not None else self._label2id
        vectors = []
        for scores in predictions:
            row = [0.0] * self._num_labels
            for item in scores:
                row[int(index[item["label"]])] = float(item["score"])
            vectors.append(row)
        return {"predictions": vectors}


__all__ = ["PSPIEvaluator"]
