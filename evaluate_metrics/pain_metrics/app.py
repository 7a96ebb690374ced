"""Gradio demo of the pain_metrics metric (the Space entry point: `python app.py`).

`evaluate.utils.launch_gradio_widget` builds its form with `gr.inputs`, which gradio 4 removed, so
this file builds the equivalent small interface with the current gradio API. Not imported by tests.
"""

import json
from pathlib import Path

import evaluate
import gradio as gr


HERE = Path(__file__).resolve().parent
metric = evaluate.load(str(HERE))

EXAMPLE_PREDICTIONS = "[[0.7, 0.2, 0.1, 0.0], [0.1, 0.6, 0.2, 0.1], [0.0, 0.2, 0.5, 0.3], [0.1, 0.1, 0.2, 0.6]]"
EXAMPLE_REFERENCES = "[0, 1, 3, 2]"


def compute(predictions, references, thresholds):
    thresholds = [int(t) for t in thresholds.replace(",", " ").split()]
    results = metric.compute(
        predictions=json.loads(predictions), references=json.loads(references), thresholds=thresholds
    )
    # JSON has no NaN: show undefined values as null.
    return json.loads(json.dumps(results).replace("NaN", "null"))


def _card_body():
    text = (HERE / "README.md").read_text(encoding="utf-8")
    return text.split("---", 2)[2] if text.startswith("---") else text


demo = gr.Interface(
    fn=compute,
    inputs=[
        gr.Textbox(label="predictions: N x C class probabilities (JSON)", value=EXAMPLE_PREDICTIONS),
        gr.Textbox(label="references: N PSPI levels (JSON)", value=EXAMPLE_REFERENCES),
        gr.Textbox(label="thresholds (PSPI >= t is pain)", value="2, 3"),
    ],
    outputs=gr.JSON(label="pain_metrics"),
    title="Metric: pain_metrics",
    description=metric.info.description,
    article=_card_body(),
)

if __name__ == "__main__":
    demo.launch()
