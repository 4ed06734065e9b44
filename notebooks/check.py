"""Executes each notebook in the Rust kernel (evcxr_jupyter) and checks the values in its
outputs. The executed copy goes to target/notebooks/; with --store it replaces the
notebook, so that the outputs a reader sees on a code host are the checked ones.

    python notebooks/check.py [--store]     # jupyter and the kernel installed (.ci/notebooks)

Nugues: every value of the comparison cell prints the same to four decimals as the
notebook ("same"), every weight gradient is within the notebook's rounding ("true"), the
derivation is shown as LaTeX and the graph as SVG.

fastai: the hand-written forward pass gives the generated loss, each of the five
`test_close` checks of the lesson's hand-written gradients against the generated ones is
true, training brings the validation mse below a tenth of the untrained one, and the
derivation, the graph and the loss curve are shown.

Nugues runs first: its first cell's `:cache` keeps the compiled dependencies, which the
fastai notebook then reuses.
"""
import json
import pathlib
import re
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent


def execute(name):
    path = HERE / name
    out = HERE.parent / "target" / "notebooks"
    where = ["--inplace"] if "--store" in sys.argv else ["--output-dir", str(out)]
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
         "--ExecutePreprocessor.timeout=1800", *where, str(path)],
        check=True,
    )
    return json.loads((path if "--store" in sys.argv else out / name).read_text())


def cells(nb):
    """Each code cell's source, what it printed and its outputs, none of them an error."""
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            source, outs = "".join(cell["source"]), cell.get("outputs", [])
            assert not any(o["output_type"] == "error" for o in outs), (source, outs)
            printed = "".join(
                "".join(o.get("text", "")) for o in outs if o["output_type"] == "stream"
            )
            yield source, printed, outs


def lines(printed, count, end):
    """The number of lines printed, `count` of them, each ending with `end`."""
    found = [l for l in printed.splitlines() if l.strip()]
    assert len(found) == count and all(l.endswith(end) for l in found), printed
    return len(found)


def pictures(outs, seen, latex, svg):
    """Marks in `seen` the derivation shown as LaTeX containing `latex` and the graph as
    SVG containing `svg`."""
    for o in outs:
        data = o.get("data", {})
        if "text/latex" in data:
            assert latex in "".join(data["text/latex"])
            seen["latex"] = True
        if "image/svg+xml" in data:
            assert svg in "".join(data["image/svg+xml"])
            seen["svg"] = True


def check_nugues():
    nb = execute("nugues.ipynb")
    seen = {"same": 0, "rounding": 0, "latex": False, "svg": False}
    for source, printed, outs in cells(nb):
        if source.startswith("// Each value to four decimals"):
            seen["same"] = lines(printed, 7, "same")
        if "within the notebook's rounding" in printed:
            seen["rounding"] = lines(printed, 3, "true")
        pictures(outs, seen, r"\delta_{z_{3}}", "∂L/∂fc1")
    assert seen == {"same": 7, "rounding": 3, "latex": True, "svg": True}, seen
    print("nugues.ipynb: 7 values as the notebook prints them, 3 weight gradients within its rounding, the derivation and the graph shown")


def check_fastai():
    nb = execute("fastai.ipynb")
    seen = {"loss": False, "test_close": 0, "trained": False, "latex": False, "svg": False, "curve": False}
    for source, printed, outs in cells(nb):
        if "mse by hand:" in printed:
            hand = float(re.search(r"mse by hand: +([-0-9.]+)", printed).group(1))
            ours = float(re.search(r"model.loss\(...\): +([-0-9.]+)", printed).group(1))
            assert abs(hand - ours) <= 1e-6 * hand and hand > 10.0, printed
            seen["loss"] = True
        if "test_close(" in printed:
            seen["test_close"] = lines(printed, 5, ": true")
        if "fell below a tenth" in printed:
            assert printed.strip().endswith("fell below a tenth: true"), printed
            seen["trained"] = True
        pictures(outs, seen, r"\delta", "∂L/∂w1")
        for o in outs:
            html = "".join(o.get("data", {}).get("text/html", []))
            if "<svg" in html and "mse by epoch" in html:
                seen["curve"] = True
    assert seen == {"loss": True, "test_close": 5, "trained": True, "latex": True, "svg": True, "curve": True}, seen
    print("fastai.ipynb: the hand-written loss is the generated one, 5 test_close checks true, the validation mse fell below a tenth, the derivation, the graph and the loss curve shown")


if __name__ == "__main__":
    check_nugues()
    check_fastai()
