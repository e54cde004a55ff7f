"""denoscope: train blind denoising UNets and open them up.

    import denoscope as ds
    d = ds.load("runs/cifar")                                   # a Denoiser: d(y), d.blocks(y), d.phi(x, sigmas, draws)
    test = ds.images("test.tar")
    rep = ds.represent(d, test, ds.RepConfig(sigmas=(0.1, 0.5), draws=8))
    res = ds.analyse(rep, images=test)                          # res.metrics["findings"]; res.save("out/analysis")

Every stage is a function that returns what it computed and writes nothing unless asked (docs/api.md). Names are
imported on first use, so `import denoscope` stays light for the command line.
"""

from importlib import import_module

__version__ = "0.1.0"

API = {
    # models and data
    "load": ("checkpoint", "load"),
    "images": ("data", "open_source"),
    "stack_images": ("data", "stack_images"),
    "Denoiser": ("denoiser", "Denoiser"),
    "GaussianDenoiser": ("denoiser", "GaussianDenoiser"),
    "ModelConfig": ("config", "ModelConfig"),
    "TrainConfig": ("config", "TrainConfig"),
    "RunOptions": ("config", "RunOptions"),
    "PRESETS": ("config", "PRESETS"),
    "model_config": ("config", "model_config"),
    "run_configs": ("training", "run_configs"),
    # stages
    "train": ("training", "train"),
    "Trainer": ("training", "Trainer"),
    "denoise": ("evaluate", "denoise"),
    "RepConfig": ("representation", "RepConfig"),
    "Representation": ("representation", "Representation"),
    "represent": ("representation", "represent"),
    "model_sigmas": ("representation", "model_sigmas"),
    "analyse": ("analysis.run", "analyse"),
    "summary_line": ("analysis.findings", "summary_line"),
    "DiffusionConfig": ("sampling.engine", "DiffusionConfig"),
    "GuidanceConfig": ("sampling.guidance", "GuidanceConfig"),
    "sample": ("sampling.stages", "sample"),
    "inverse": ("sampling.stages", "inverse"),
    "reconstruct": ("sampling.stages", "reconstruct"),
    "distance": ("sampling.stages", "distance"),
    "StageResult": ("results", "StageResult"),
    # the 2023 paper
    "jacobian": ("analysis.jacobian", "jacobian"),
    "adaptive_basis": ("analysis.jacobian", "adaptive_basis"),
    "generalize": ("generalization", "generalize"),
    "GeneralizeConfig": ("generalization", "GeneralizeConfig"),
    # figures and the report
    "draw": ("reporting.draw", "draw"),
    "report": ("reporting.build", "build_report"),
}
__all__ = sorted(API)


def __getattr__(name: str):
    if name not in API:
        raise AttributeError(f"module 'denoscope' has no attribute {name!r}")
    module, attr = API[name]
    value = getattr(import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *API})
