"""The dataset card (``README.md``) of a Hub-layout 3DPain folder, and its two plots.

The YAML header is written with the helpers ``push_to_hub`` uses
(``datasets.utils.metadata.MetadataConfigs`` and ``datasets.info.DatasetInfosDict``): ``configs``
with ``data_files`` per split (``frames`` is the default) and ``dataset_info`` with each
config's features and split sizes, so ``load_dataset(folder)`` returns exactly the declared
features. The body says how the data was made, defines the AUs, PSPI and the heatmap encoding,
lists the fields and embeds ``pspi_histogram.png``, ``demographics.png`` and ``lineup.jpg`` (one
neutral identity per demographic stratum).
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from generation.demographics import AGE_GROUPS, ETHNICITIES, GENDERS
from generation.facs import DISTRACTOR_AUS, PAIN_AUS, PSPI_MAX
from generation.figure import new_figure, png_bytes
from generation.layout import write_atomic

from .features import CONFIGS, DEFAULT_CONFIG, SPLITS, features_for

if TYPE_CHECKING:  # pragma: no cover
    from .writer import Finalized

PSPI_PLOT = "pspi_histogram.png"
DEMOGRAPHICS_PLOT = "demographics.png"
LINEUP = "lineup.jpg"
LINEUP_CELL = 128  # px per view in the line-up
LICENSE = "apache-2.0"
TAGS = ["synthetic", "pain", "facial-action-units", "facs", "pspi", "3d", "faces", "heatmaps"]
SPLIT_COLOURS = {"train": "#3b6ea8", "validation": "#e08a2b", "test": "#5a9e4b"}


# --- statistics -------------------------------------------------------------------------------
def frame_stats(out: Path, files_by_split: Mapping[str, list[str]]) -> dict:
    """PSPI counts of pain frames, neutral frame counts, and identity demographics, per split."""
    import pyarrow.parquet as pq

    cols = ["identity", "expression", "pspi", "age_group", "gender", "ethnicity"]
    stats: dict = {"pspi": {}, "neutral": {}, "identities": {}, "strata": {}, "demographics": {}}
    for split, files in files_by_split.items():
        pspi = Counter()
        neutral = 0
        people: dict[str, tuple[int, int, int]] = {}
        for rel in files:
            # a row group at a time, six small columns: memory does not grow with the dataset
            for batch in pq.ParquetFile(out / rel).iter_batches(columns=cols):
                t = batch.to_pydict()
                for ident, expr, p, a, g, e in zip(*(t[c] for c in cols)):
                    if expr == 0:
                        neutral += 1
                    else:
                        pspi[p] += 1
                    people[ident] = (a, g, e)
        stats["pspi"][split] = [pspi.get(v, 0) for v in range(PSPI_MAX + 1)]
        stats["neutral"][split] = neutral
        stats["identities"][split] = len(people)
        stats["strata"][split] = len(set(people.values()))
        demo = {}
        for k, names in (("age_group", AGE_GROUPS), ("gender", GENDERS), ("ethnicity", ETHNICITIES)):
            idx = {"age_group": 0, "gender": 1, "ethnicity": 2}[k]
            c = Counter(v[idx] for v in people.values())
            demo[k] = [c.get(i, 0) for i in range(len(names))]
        stats["demographics"][split] = demo
    return stats


def lineup_jpeg(out: Path, files: list[str]) -> bytes | None:
    """JPEG of the first identity of each demographic stratum (identity order), its neutral face
    in the most frontal and the most turned view, read from the finished frame shards.

    Two passes over small columns pick the rows; images are then read only from the row groups
    whose identity range can hold them, so memory and time do not grow with the dataset.
    """
    import pyarrow.parquet as pq
    from PIL import Image, ImageDraw

    first: dict[tuple[int, int, int], str] = {}
    yaws: set[float] = set()
    for rel in files:
        for batch in pq.ParquetFile(out / rel).iter_batches(columns=["identity", "expression", "yaw", "age_group", "gender", "ethnicity"]):
            t = batch.to_pydict()
            for ident, expr, yaw, a, g, e in zip(*t.values()):
                if expr == 0 and yaw is not None:
                    yaws.add(float(yaw))
                    key = (a, g, e)
                    if key not in first or ident < first[key]:
                        first[key] = ident
    if not first or not yaws:
        return None
    views = sorted({min(yaws, key=lambda y: (abs(y), y)), max(yaws, key=lambda y: (abs(y), y))}, key=abs)
    wanted = {ident: key for key, ident in first.items()}
    lo, hi = min(wanted), max(wanted)
    images: dict[tuple[str, float], Image.Image] = {}
    for rel in files:
        pf = pq.ParquetFile(out / rel)
        col = pf.schema_arrow.get_field_index("identity")
        for i in range(pf.num_row_groups):
            st = pf.metadata.row_group(i).column(col).statistics
            if st is not None and st.has_min_max and (st.max < lo or st.min > hi):
                continue
            t = pf.read_row_group(i, columns=["identity", "expression", "yaw", "image"]).to_pydict()
            for ident, expr, yaw, img in zip(t["identity"], t["expression"], t["yaw"], t["image"]):
                if expr == 0 and ident in wanted and yaw is not None and float(yaw) in views:
                    im = Image.open(io.BytesIO(img["bytes"])).convert("RGB")
                    images[(ident, float(yaw))] = im.resize((LINEUP_CELL, LINEUP_CELL), Image.BILINEAR)
    order = sorted(wanted, key=lambda ident: wanted[ident])
    cols, label_h, s = 4, 14, LINEUP_CELL
    rows = (len(order) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * len(views) * s, rows * (s + label_h)), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    for k, ident in enumerate(order):
        r, c = divmod(k, cols)
        x0, y0 = c * len(views) * s, r * (s + label_h)
        a, g, e = wanted[ident]
        draw.text((x0 + 3, y0 + 1), f"{AGE_GROUPS[a]} {GENDERS[g]}, {ETHNICITIES[e]}", fill=(230, 230, 230))
        for j, yaw in enumerate(views):
            if (ident, yaw) in images:
                sheet.paste(images[(ident, yaw)], (x0 + j * s, y0 + label_h))
    buf = io.BytesIO()
    sheet.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


# --- plots ------------------------------------------------------------------------------------
def _grouped_bars(ax, labels: list[str], series: Mapping[str, list[int]]) -> None:
    n = max(1, len(series))
    width = 0.8 / n
    for k, (split, values) in enumerate(series.items()):
        xs = [i - 0.4 + width * (k + 0.5) for i in range(len(labels))]
        ax.bar(xs, values, width=width, label=split, color=SPLIT_COLOURS.get(split))
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels)
    ax.spines[["top", "right"]].set_visible(False)


def pspi_plot(stats: dict) -> bytes:
    fig = new_figure(7.5, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    _grouped_bars(ax, [str(v) for v in range(PSPI_MAX + 1)], stats["pspi"])
    neutral = ", ".join(f"{s} {n}" for s, n in stats["neutral"].items())
    ax.set_title(f"PSPI of pain frames per split (neutral frames, PSPI 0, not shown: {neutral})", fontsize=9)
    ax.set_xlabel("PSPI")
    ax.set_ylabel("frames")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return png_bytes(fig)


def demographics_plot(stats: dict) -> bytes:
    fig = new_figure(10.0, 3.2)
    parts = (("age_group", AGE_GROUPS, 1), ("gender", GENDERS, 1), ("ethnicity", ETHNICITIES, 3))
    grid = fig.add_gridspec(1, 5)
    col = 0
    for key, names, span in parts:
        ax = fig.add_subplot(grid[0, col : col + span])
        col += span
        series = {s: d[key] for s, d in stats["demographics"].items()}
        _grouped_bars(ax, [n.replace(" ", "\n") for n in names], series)
        ax.set_title(key.replace("_", " "), fontsize=9)
        ax.tick_params(labelsize=7)
        if key == "age_group":
            ax.set_ylabel("identities")
    fig.axes[-1].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return png_bytes(fig)


# --- YAML -------------------------------------------------------------------------------------
def size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return name
    return "1M<n<10M"


def card_yaml(result: "Finalized", features: Mapping[str, object], pretty_name: str) -> str:
    """The YAML header (without the --- fences)."""
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    data = DatasetCardData(
        license=LICENSE,
        task_categories=["image-classification"],
        tags=TAGS,
        pretty_name=pretty_name,
        size_categories=[size_category(sum(result.rows(DEFAULT_CONFIG).values()))],
        annotations_creators=["machine-generated"],
        source_datasets=["original"],
    )
    infos, configs = {}, {}
    for config in CONFIGS:
        written = [s for s in result.splits if s.config == config]
        if not written:
            continue
        info = DatasetInfo(config_name=config, features=features[config], splits=SplitDict(), download_size=0, dataset_size=0)
        for s in sorted(written, key=lambda s: SPLITS.index(s.split)):
            info.splits.add(SplitInfo(name=s.split, num_bytes=s.num_bytes, num_examples=s.num_examples))
            info.download_size += s.download_size
            info.dataset_size += s.num_bytes
        infos[config] = info
        configs[config] = {"data_files": [{"split": s.name, "path": f"data/{config}/{s.name}-*"} for s in info.splits.values()]}
        if config == DEFAULT_CONFIG:
            configs[config]["default"] = True
    DatasetInfosDict(infos).to_dataset_card_data(data)
    MetadataConfigs(configs).to_dataset_card_data(data)
    return str(data)


# --- body -------------------------------------------------------------------------------------
FIELDS = """\
| field | type | meaning |
|---|---|---|
| `image` | Image (JPEG) | the rendered frame |
| `neutral_image` | Image (JPEG) | the same identity and view with the neutral face (expression 0) |
| `heatmap` | Image (PNG, RGB) | colorized pain-region heatmap; all black for neutral frames |
| `heatmap_raw` | Image (PNG, 16-bit grey) | lossless heat: `np.asarray(img) / 65535` in [0, 1]; all 0 for neutral frames |
| `aus` | struct of float32 | pain AU intensities AU4, AU6, AU7, AU9, AU10 (0-5), AU43 (0/1) |
| `distractor_aus` | struct of float32 | non-pain AUs AU1, AU2, AU12, AU15, AU25, AU26 (0-5) |
| `pspi` | ClassLabel 0-16 | PSPI of `aus` (see below) |
| `identity` | string | synthetic identity, `id_00000`...; each identity is in exactly one split |
| `expression` | int32 | 0 = neutral, 1..K = pain expressions |
| `view` | ClassLabel | camera view, named by its yaw (`yaw-30`, `yaw+0`, `yaw+30`) |
| `yaw`, `pitch` | float32 | camera angles in degrees (positive yaw = camera on the subject's left) |
| `age_group`, `gender`, `ethnicity` | ClassLabel | the identity's demographic group |
| `age` | float32 | normalised age control in [0, 1] (young 0-0.35, elderly 0.65-1) |
| `skin_tone` | float32 | Monk Skin Tone step (1 light to 10 dark) of the procedural albedo, whose colour is measured skin's (`generation.texture.SKIN_LAB`) |
| `facial_hair` | ClassLabel | the identity's facial hair: `none`, `stubble`, `moustache`, `goatee`, `beard`, `full_beard` (hair over the upper lip hides part of AU9/AU10 from a landmark tracker) |
| `heatmap_scale_mm` | float32 | millimetres of displacement that map to heat 1.0 |
| `seed` | int64 | the generation seed |
| `appearance` | string | JSON record of the appearance backend that drew the identity (`--texturer diffusion`: prompt, seeds, `alignment_error` in inter-ocular distances, `alignment_ok`, `alignment_attempts`); empty for the procedural texture |

`meshes` config (absent with `--meshes none`): `identity`, `expression`, `face_model`, then
either `vertices` (Array2D float32, V x 3, millimetres; expression 0 is the neutral mesh, so
neutral/pain pairs share vertex order) and `albedo` (Array2D uint8, V x 3, the skin, eye and
hair colour of each vertex), or with `--meshes glb` the mesh as a `glb` file (binary: albedo
or UV texture, the parts as named nodes, the labels in the scene's extras); then `aus`,
`distractor_aus`, `pspi`. `faces` config (split `train` only): `face_model`, its `faces`
(Array2D int32, F x 3 triangle vertex indices) and `parts` (name, start, stop: the vertex
ranges of the head, eyeballs and eyelids, each a closed shell), stored once for all meshes.
`pain3d_dataset.meshes.to_scene(row, faces)` turns a `meshes` row into a `trimesh.Scene`
(`to_trimesh`: one `trimesh.Trimesh`); `pain3d export-meshes DIR --out MESHES --format glb`
writes them as files.
"""


def _settings_table(settings: Mapping) -> str:
    rows = ["| setting | value |", "|---|---|"]
    for k in sorted(settings):
        v = settings[k]
        if k == "flame_path" and v:
            v = Path(str(v)).name  # not the author's file system
        rows.append(f"| `{k}` | `{json.dumps(v)}` |")
    return "\n".join(rows)


def _split_table(result: "Finalized", stats: dict) -> str:
    rows = ["| config | " + " | ".join(SPLITS) + " |", "|---|" + "---|" * len(SPLITS)]
    for config in CONFIGS:
        counts = result.rows(config)
        if counts:
            rows.append(f"| `{config}` | " + " | ".join(str(counts[s]) if s in counts else "-" for s in SPLITS) + " |")
    rows.append("| identities | " + " | ".join(str(stats["identities"].get(s, 0)) for s in SPLITS) + " |")
    rows.append("| strata present (of 24) | " + " | ".join(str(stats["strata"].get(s, 0)) for s in SPLITS) + " |")
    return "\n".join(rows)


def _pspi_table(stats: dict) -> str:
    """Frames per PSPI over all splits, neutral frames included (they are PSPI 0)."""
    counts = [sum(v[p] for v in stats["pspi"].values()) for p in range(PSPI_MAX + 1)]
    counts[0] += sum(stats["neutral"].values())
    total = max(1, sum(counts))
    return "\n".join([
        "| PSPI | " + " | ".join(str(p) for p in range(PSPI_MAX + 1)) + " |",
        "|---|" + "---:|" * (PSPI_MAX + 1),
        "| frames | " + " | ".join(str(c) for c in counts) + " |",
        "| share | " + " | ".join(f"{100 * c / total:.1f}%" for c in counts) + " |",
    ])


def card_body(result: "Finalized", settings: Mapping, stats: dict, pretty_name: str, lineup: bool = False) -> str:
    lineup_section = (
        "## Line-up\n\nThe first identity of each demographic stratum, neutral, in the most frontal "
        f"and the most turned view (from the frames above):\n\n![Line-up of identities]({LINEUP})\n"
        if lineup
        else ""
    )
    pain = "\n".join(f"| {au.code} | {au.name} | 0-{au.max_intensity} |" for au in PAIN_AUS)
    distract = ", ".join(f"{au.code} ({au.name})" for au in DISTRACTOR_AUS)
    views = ", ".join(f"{float(y):+g}" for y in settings.get("views", []))
    return f"""
# {pretty_name}

Synthetic 3D faces posed with exact FACS Action Units and rendered as paired neutral/pain
images with pain-region heatmaps, AU labels and PSPI scores, made by the `pain3d` generator
(a CPU re-implementation of the 3DPain pipeline of *Pain in 3D*, Lin, Mehraban, Moturu, Taati).
Every label is exact by construction: the AUs are the rig's inputs, not annotations.

```python
from datasets import load_dataset

frames = load_dataset("path/or/repo")              # default config: one row per frame
meshes = load_dataset("path/or/repo", "meshes")    # vertex arrays per identity and expression
faces = load_dataset("path/or/repo", "faces")      # the triangles, once
```

## Configs and splits

Splits are by **identity** (70/20/10 train/validation/test): no identity appears in two
splits, so a model never sees a test face in training. They are stratified by age group x
gender x ethnicity: each of the 24 strata is split 70/20/10 on its own, every count within one
identity of its share, with the remainders spread so that the totals stay 70/20/10. So every
stratum with 10 or more identities is in every split, and per-group results on the test split
see every group. The split depends on the seed and the stratum counts alone.

{_split_table(result, stats)}

## How the data was made

Each identity gets a face shape, age, procedural skin albedo and background from
`numpy.random.default_rng([seed, identity])`; demographics (age group x gender x ethnicity,
the paper's Table 1 groups) are balanced over the dataset unless weights are given. Each identity
has one neutral face (expression 0) and K pain expressions whose PSPI targets are uniform over the
PSPI range across the dataset (`pspi_range` below; by default 1-16, so that PSPI 0 comes from the
neutral faces, and 0-16 with distractors, where a PSPI 0 target is a distractor-only expression);
each target is split uniformly at random among the AU configurations with that PSPI. No pain
expression copies the neutral face: one that would move nothing gets a distractor AU. An anatomically placed deformation per AU poses the mesh, which a
software rasterizer renders from every view ({views}). Distractor (non-pain) AUs, when enabled,
are {distract}. Generator settings of this dataset:

{_settings_table(settings)}

## Action Units and PSPI

| AU | FACS name | intensity |
|---|---|---|
{pain}

Intensities follow FACS: 0 = absent, A-E = 1-5; AU43 (eyes closed) is 0 or 1. The Prkachin and
Solomon Pain Intensity is

    PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43        (0-16)

## Heatmaps

Heat is the per-vertex displacement between the identity's neutral and pain meshes, rendered
from the pain mesh in the frame's view: `heat = clip(mm / heatmap_scale_mm, 0, 1)` (10 mm = 1.0
by default). `heatmap_raw` stores it losslessly as a 16-bit grey PNG (`value / 65535`);
`heatmap` is the same heat through a black-purple-red-orange-yellow-white colour map, exactly
black where there is no displacement. Neutral frames have all-zero heat (black images).

## Fields

{FIELDS}
## Distributions

PSPI of every frame, all splits, neutral frames (PSPI 0) included:

{_pspi_table(stats)}

![PSPI histogram per split]({PSPI_PLOT})

![Demographic counts per split]({DEMOGRAPHICS_PLOT})

{lineup_section}
## Licence and limitations

Apache-2.0. The faces are synthetic (no real person is depicted); the built-in face model and
textures are procedural, so images look rendered rather than photographic. PSPI here is exact
by construction; models trained on it should be validated on real data (e.g. UNBC-McMaster).
"""


def write_card(out: Path, result: "Finalized", settings: Mapping, pretty_name: str = "3DPain (pain3d synthetic)") -> None:
    """Plots first, then ``README.md`` (atomically, last: it marks a finished dataset)."""
    frame_files = {s.split: s.files for s in result.splits if s.config == DEFAULT_CONFIG}
    stats = frame_stats(out, frame_files)
    write_atomic(out / PSPI_PLOT, pspi_plot(stats))
    write_atomic(out / DEMOGRAPHICS_PLOT, demographics_plot(stats))
    lineup = lineup_jpeg(out, [f for files in frame_files.values() for f in files])
    if lineup is not None:
        write_atomic(out / LINEUP, lineup)
    views, meshes = settings.get("views", (-30.0, 0.0, 30.0)), settings.get("meshes", "vertices")
    features = {c: features_for(c, views, meshes=meshes) for c in CONFIGS if result.rows(c)}
    text = f"---\n{card_yaml(result, features, pretty_name)}\n---\n{card_body(result, settings, stats, pretty_name, lineup is not None)}"
    write_atomic(out / "README.md", text.encode("utf-8"))
