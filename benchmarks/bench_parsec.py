"""Benchmark PARSEC on the tiny preset (or ``--preset``): step time, peak memory, cost-term time; and the beta sweep.

Usage::

    python benchmarks/bench_parsec.py                 # CPU (or CUDA where one is present), markdown table
    python benchmarks/bench_parsec.py --device cuda --json out.json
    python benchmarks/bench_parsec.py sweep           # the beta sweep table (beta 0 / 0.1 / 0.3)

Every configuration runs in a fresh worker process (``--worker``) so peak memory is not polluted
by an earlier one. Step time and peak are taken per training batch inside Lightning
(``on_train_batch_start`` to ``on_train_batch_end``), after warm-up batches:

* PARSEC with K = 1, 4, 13 against *the same* architectures run as K single-architecture steps
  (NNI's RandomOneShot, replaying PARSEC's samples: FLOPs vary 4x across the space, so random
  ones would not compare);
* NNI's DARTS and RandomOneShot (random architectures) on the same space;
* the cost term alone (FLOPs of the K samples, C(alpha) and its share of the alpha gradient).

CPU peak memory is the process's peak RSS over the batch (``VmHWM``, reset through
``/proc/self/clear_refs``) above the RSS before it, with glibc told to return large blocks
(``MALLOC_MMAP_THRESHOLD_``); on CUDA it is ``torch.cuda.max_memory_allocated`` above the
allocation before the batch.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

MALLOC_ENV = {'MALLOC_MMAP_THRESHOLD_': '65536', 'MALLOC_TRIM_THRESHOLD_': '65536'}


# ------------------------------------------------------------------------------------------------
# Measuring one batch
# ------------------------------------------------------------------------------------------------
def _rss_kib(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f'{field} not in /proc/self/status')


def _batch_meter(device: str, warmup: int):
    """A Lightning callback recording (seconds, peak bytes, samples) of every batch after ``warmup``."""
    from pytorch_lightning.callbacks import Callback

    class Meter(Callback):
        def __init__(self):
            self.rows: list[dict] = []
            self._seen = 0

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            gc.collect()
            if device == 'cuda':
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                self._base = torch.cuda.memory_allocated()
            else:
                with open('/proc/self/clear_refs', 'w') as f:
                    f.write('5')
                self._base = _rss_kib('VmRSS') * 1024
            self._start = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if device == 'cuda':
                torch.cuda.synchronize()
                peak = torch.cuda.max_memory_allocated() - self._base
            else:
                peak = _rss_kib('VmHWM') * 1024 - self._base
            seconds = time.perf_counter() - self._start
            self._seen += 1
            if self._seen > warmup:
                self.rows.append({'seconds': seconds, 'peak_bytes': peak,
                                  'samples': getattr(pl_module, 'last_samples', None) or
                                  [getattr(pl_module, 'current_sample', None)]})

    return Meter()


def _data(space, batch: int, batches: int):
    import nni
    from nni.nas.evaluator.pytorch import DataLoader
    from torch.utils.data import TensorDataset
    g = torch.Generator().manual_seed(0)
    n = batch * batches
    x = torch.randn(n, *space.input_shape, generator=g)
    y = torch.randint(0, space.preset.num_classes, (n,), generator=g)
    return DataLoader(nni.trace(TensorDataset)(x, y), batch_size=batch, drop_last=True)


def _evaluator(space, args, batches: int, callbacks):
    from nni.nas.evaluator.pytorch import Classification
    loader = _data(space, args.batch, batches)
    return Classification(train_dataloaders=loader, val_dataloaders=loader, num_classes=space.preset.num_classes,
                          learning_rate=0.05, optimizer=torch.optim.SGD, max_epochs=1, limit_val_batches=0,
                          num_sanity_val_steps=0, enable_progress_bar=False, logger=False,
                          enable_checkpointing=False, enable_model_summary=False,
                          accelerator='gpu' if args.device == 'cuda' else 'cpu', devices=1, callbacks=callbacks)


def _replay_strategy(archs: list[dict]):
    """RandomOneShot whose 'random' architectures are the given ones, in order."""
    from nni.nas.oneshot.pytorch.sampling import RandomSamplingLightningModule
    from nni.nas.strategy import RandomOneShot

    class Replay(RandomSamplingLightningModule):
        def resample(self):
            sample = archs[len(self._done) % len(archs)] if archs else super().resample()
            if archs:
                for module in self.supernet_modules():
                    module.resample(memo=sample)
            self._done.append(sample)
            self.current_sample = sample
            return sample

    class ReplayOneShot(RandomOneShot):
        def configure_oneshot_module(self, training_module):
            module = Replay(training_module)
            module._done = []
            return module

    return ReplayOneShot()


def run_worker(args) -> dict:
    """One configuration in this (fresh) process; returns its per-batch rows."""
    torch.set_num_threads(args.threads)
    from nni_autotsnet.search_space import TwoStreamSpace
    from nni_autotsnet.strategies import Parsec
    torch.manual_seed(0)
    space = TwoStreamSpace.from_preset(getattr(args, 'preset', 'tiny'), parts=args.parts)
    meter = _batch_meter(args.device, args.warmup)
    batches = args.steps + args.warmup
    if args.worker == 'parsec':
        strategy = Parsec(num_samples=args.k, seed=0, warmup=0.0, weight_optimizer='evaluator', metric_samples=16)
    elif args.worker == 'replay':
        archs = json.loads(Path(args.archs).read_text())
        # the first architecture once per warm-up batch, unmeasured, then the measured ones
        archs = archs[:1] * args.warmup + archs
        strategy, batches = _replay_strategy(archs), len(archs)
    elif args.worker == 'random':
        strategy = _replay_strategy([])
    elif args.worker == 'darts':
        from nni.nas.strategy import DARTS
        strategy = DARTS()
    else:
        raise ValueError(f'unknown worker {args.worker!r}')
    model = strategy.mutate_model(space)
    evaluator = strategy.mutate_evaluator(_evaluator(space, args, batches, [meter]))
    evaluator.evaluate(model)
    return {'rows': meter.rows}


def run_cost_term(args) -> dict:
    """Seconds per step of the cost term: FLOPs of K fresh samples (uncached), C(alpha), its alpha gradient."""
    from nni_autotsnet.search_space import TwoStreamSpace
    from nni_autotsnet.strategies import ArchDistribution, ArchFlops, FlopsWindowCost, architecture_gradient
    space = TwoStreamSpace.from_preset('tiny', parts=args.parts)
    dist = ArchDistribution(space.simplify())
    cost = FlopsWindowCost(0.006, 0.007, beta=0.3)
    generator = torch.Generator().manual_seed(0)
    weights = torch.full((13,), 1 / 13)
    with_cost, without = [], []
    for _ in range(200):
        flops = ArchFlops(space.flops)  # empty cache: the worst case
        samples, indices = dist.sample(13, generator)
        start = time.perf_counter()
        estimate = cost.estimate(flops.many(samples))
        architecture_gradient(dist, indices, weights, estimate.coefficients)
        with_cost.append(time.perf_counter() - start)
        start = time.perf_counter()
        architecture_gradient(dist, indices, weights)
        without.append(time.perf_counter() - start)
    return {'cost_term_s': statistics.median(with_cost) - statistics.median(without),
            'flops_of_13_s': statistics.median(with_cost)}


# ------------------------------------------------------------------------------------------------
# The beta sweep
# ------------------------------------------------------------------------------------------------
def run_sweep(args) -> list[dict]:
    """Search the tiny space once per beta (same seed, data and window); report what each found."""
    import nni
    from nni.nas.evaluator.pytorch import Classification, DataLoader
    from torch.utils.data import TensorDataset
    from nni_autotsnet.data.testing import synthetic_clips
    from nni_autotsnet.search_space import TwoStreamSpace
    from nni_autotsnet.strategies import FlopsWindowCost, Parsec
    torch.set_num_threads(args.threads)
    rows = []
    for beta in args.betas:
        torch.manual_seed(args.seed)
        space = TwoStreamSpace.from_preset('tiny', parts=args.parts)
        classes = space.preset.num_classes
        x, y = synthetic_clips(space.input_shape, classes, args.batch * args.batches)
        xv, yv = synthetic_clips(space.input_shape, classes, 2 * args.batch, seed=1)
        train = DataLoader(nni.trace(TensorDataset)(x, y), batch_size=args.batch, shuffle=True)
        val = DataLoader(nni.trace(TensorDataset)(xv, yv), batch_size=2 * args.batch)
        evaluator = Classification(train_dataloaders=train, val_dataloaders=val, num_classes=classes,
                                   learning_rate=0.05, max_epochs=args.epochs, num_sanity_val_steps=0,
                                   enable_progress_bar=False, logger=False, enable_checkpointing=False,
                                   enable_model_summary=False, accelerator='gpu' if args.device == 'cuda' else 'cpu')
        strategy = Parsec(num_samples=args.sweep_k, cost=FlopsWindowCost(*args.window, beta=beta) if beta > 0 else None,
                          seed=args.seed, arch_lr=args.arch_lr, metric_samples=64)
        model = strategy.mutate_model(space)
        start = time.perf_counter()
        strategy.mutate_evaluator(evaluator).evaluate(model)
        last = strategy.parsec_module.history[-1]
        rows.append({'beta': beta, 'window': list(args.window) if beta > 0 else None,
                     'searched_gflops': last['ml_gflops'], 'expected_gflops': last['expected_gflops'],
                     'ml_val_acc': last.get('ml_val_acc'), 'entropy': last['entropy'],
                     'seconds': time.perf_counter() - start,
                     'arch': strategy.parsec_module.export()})
    return rows


def sweep_markdown(rows: list[dict], args) -> str:
    lines = [f'tiny preset, parts={args.parts}; K = {args.sweep_k}, {args.epochs} epochs x {args.batches} batches '
             f'of {args.batch} synthetic clips, alpha Adam lr {args.arch_lr}, seed {args.seed}.', '',
             '| beta | T_min (G) | T_max (G) | searched GFLOPs | expected GFLOPs | in window |',
             '|---|---|---|---|---|---|']
    lo, hi = args.window
    for r in rows:
        window = ('-', '-') if r['window'] is None else (f'{lo:g}', f'{hi:g}')
        inside = 'yes' if lo <= r['searched_gflops'] <= hi else 'no'
        lines.append(f"| {r['beta']:g} | {window[0]} | {window[1]} | {r['searched_gflops']:.5f} | "
                     f"{r['expected_gflops']:.5f} | {inside} |")
    return '\n'.join(lines)


# ------------------------------------------------------------------------------------------------
# Orchestration
# ------------------------------------------------------------------------------------------------
def _spawn(args, worker: str, **extra) -> dict:
    if getattr(args, 'in_process', False):  # quick runs (tests): no fresh process, CPU peaks less exact
        worker_args = argparse.Namespace(**{**vars(args), 'worker': worker, **extra})
        try:
            return run_worker(worker_args)
        except Exception as err:  # noqa: BLE001  (reported in the table like a failed worker)
            return {'error': f'{type(err).__name__}: {err}'}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / 'out.json'
        cmd = [sys.executable, __file__, '--worker', worker, '--out', str(out), '--device', args.device,
               '--batch', str(args.batch), '--steps', str(args.steps), '--warmup', str(args.warmup),
               '--threads', str(args.threads), '--parts', args.parts, '--preset', getattr(args, 'preset', 'tiny')]
        for key, value in extra.items():
            cmd += [f'--{key}', str(value)]
        env = {**os.environ, **MALLOC_ENV}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            return {'error': done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'failed'}
        return json.loads(out.read_text())


def _mib(x: float) -> float:
    return x / 2 ** 20


def benchmark(args) -> dict:
    results: dict = {'machine': f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
                                f'torch {torch.__version__}, {args.threads} intra-op thread(s)',
                     'device': args.device, 'batch': args.batch, 'parts': args.parts,
                     'preset': getattr(args, 'preset', 'tiny'), 'k': {}}
    if args.device == 'cuda':
        results['machine'] += f', {torch.cuda.get_device_name(0)}'
    for k in args.ks:
        parsec = _spawn(args, 'parsec', k=k)
        if 'error' in parsec:
            results['k'][k] = parsec
            continue
        archs = [s for row in parsec['rows'] for s in row['samples']]
        with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as f:
            json.dump(archs, f)
        replay = _spawn(args, 'replay', archs=f.name)
        os.unlink(f.name)
        if 'error' in replay:
            results['k'][k] = replay
            continue
        singles = replay['rows']
        steps = [singles[i * k:(i + 1) * k] for i in range(len(parsec['rows']))]
        time_ratio = [row['seconds'] / sum(s['seconds'] for s in group) for row, group in zip(parsec['rows'], steps)]
        peak_ratio = [row['peak_bytes'] / max(s['peak_bytes'] for s in group) for row, group in zip(parsec['rows'], steps)]
        results['k'][k] = {
            'parsec_step_s': statistics.median(r['seconds'] for r in parsec['rows']),
            'k_single_steps_s': statistics.median(sum(s['seconds'] for s in g) for g in steps),
            'time_ratio': statistics.median(time_ratio),
            'parsec_peak_mib': _mib(max(r['peak_bytes'] for r in parsec['rows'])),
            'single_peak_mib': _mib(max(s['peak_bytes'] for s in singles)),
            'single_peak_mean_mib': _mib(statistics.mean(s['peak_bytes'] for s in singles)),
            'peak_ratio': max(peak_ratio),
        }
    for name in ('random', 'darts'):
        rows = _spawn(args, name)
        results[name] = rows if 'error' in rows else {
            'step_s': statistics.median(r['seconds'] for r in rows['rows']),
            'peak_mib': _mib(max(r['peak_bytes'] for r in rows['rows'])),
        }
    if getattr(args, 'cost_term', True):
        results.update(run_cost_term(args))
    return results


def markdown(results: dict) -> str:
    from nni_autotsnet.search_space import TwoStreamSpace
    preset = results.get('preset', 'tiny')
    shape = 'x'.join(str(d) for d in TwoStreamSpace.from_preset(preset, parts=results['parts']).input_shape)
    lines = [f"Machine: {results['machine']}; device {results['device']}; {preset} preset, parts={results['parts']}, "
             f"batch {results['batch']} clips of {shape}.", '',
             '| K | PARSEC step (s) | K single steps, same archs (s) | time ratio | PARSEC peak (MiB) | '
             'max single peak (MiB) | peak ratio |', '|---|---|---|---|---|---|---|']
    for k, r in results['k'].items():
        if 'error' in r:
            lines.append(f"| {k} | error: {r['error']} | | | | | |")
            continue
        lines.append(f"| {k} | {r['parsec_step_s']:.3f} | {r['k_single_steps_s']:.3f} | {r['time_ratio']:.2f}x | "
                     f"{r['parsec_peak_mib']:.1f} | {r['single_peak_mib']:.1f} | {r['peak_ratio']:.2f}x |")
    lines += ['', '| strategy | step (s) | peak (MiB) |', '|---|---|---|']
    for name, label in (('random', 'NNI RandomOneShot (1 random arch)'), ('darts', 'NNI DARTS')):
        r = results[name]
        lines.append(f"| {label} | error: {r['error']} | |" if 'error' in r else
                     f"| {label} | {r['step_s']:.3f} | {r['peak_mib']:.1f} |")
    if 'cost_term_s' not in results:
        return '\n'.join(lines)
    lines += ['', f"Cost term per step (K = 13, FLOPs uncached): {results['cost_term_s'] * 1e3:.2f} ms "
                  f"(of which FLOPs of 13 samples + C(alpha) + gradient: {results['flops_of_13_s'] * 1e3:.2f} ms)."]
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('command', nargs='?', default='bench', choices=['bench', 'sweep'])
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--steps', type=int, default=3, help='measured PARSEC steps per K')
    parser.add_argument('--warmup', type=int, default=1, help='unmeasured batches first')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--parts', default='all', choices=['sparse', 'fusion', 'all'])
    parser.add_argument('--preset', default='tiny', help='search-space preset of the step benchmark (tiny, S, M, L)')
    parser.add_argument('--ks', type=lambda s: [int(x) for x in s.split(',')], default=[1, 4, 13])
    parser.add_argument('--json', help='also write the results here')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    parser.add_argument('--k', type=int, default=13, help=argparse.SUPPRESS)
    parser.add_argument('--archs', help=argparse.SUPPRESS)
    parser.add_argument('--betas', type=lambda s: [float(x) for x in s.split(',')], default=[0.0, 0.1, 0.3])
    parser.add_argument('--window', type=lambda s: tuple(float(x) for x in s.split(',')), default=(0.0065, 0.0075),
                        help='sweep: T_min,T_max in GFLOPs per view')
    parser.add_argument('--epochs', type=int, default=4, help='sweep: epochs per beta')
    parser.add_argument('--batches', type=int, default=10, help='sweep: batches per epoch')
    parser.add_argument('--sweep-k', type=int, default=4, help='sweep: K')
    parser.add_argument('--arch-lr', type=float, default=0.1, help='sweep: Adam learning rate of alpha')
    parser.add_argument('--seed', type=int, default=0, help='sweep: seeds weights, data order and sampling')
    args = parser.parse_args(argv)

    if args.worker:
        Path(args.out).write_text(json.dumps(run_worker(args)))
        return 0
    if args.command == 'sweep':
        rows = run_sweep(args)
        print(sweep_markdown(rows, args))
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2))
        return 0
    results = benchmark(args)
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
