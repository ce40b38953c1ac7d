"""Keeps the default suite's memory in bounds (under 2 GB on our 2-core machine).

Every compiled program stays in memory until JAX's caches are cleared: the suite compiles
hundreds of machines, shapes and eagerly dispatched operations, and held them all (3.7 GB at its
peak). The caches are cleared between test files, and within a file once the process has grown
by GROWTH_MB since the last clearing. XLA's compilation cache on disk is on from the start (where
`looped run` keeps it), so a machine that a later file needs again is loaded, not compiled: on our
2-core machine the suite takes about 2 min 45 s with that cache warm (8 min with it empty, as on a
fresh machine: nearly all compiling)."""

import gc

import pytest

GROWTH_MB = 300
_since = {"rss": 0}


def _rss_mb() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def _clear() -> None:
    import jax

    from looped import engine, machine

    jax.clear_caches()
    for cached in (engine._loop_for, machine.machine_for, getattr(machine, "_nnx_machine", None)):
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()
    gc.collect()


def pytest_runtest_teardown(item, nextitem):
    # A command-line test turns on the disk cache of compiled loops (looped/cli/__init__.py) for the whole
    # process: turned off again, the other tests neither store every loop they compile nor
    # compile more batch shapes because one is kept (looped/runner.py's budget).
    from looped import executables

    executables.disable()
    if nextitem is None or nextitem.fspath != item.fspath or _rss_mb() - _since["rss"] > GROWTH_MB:
        _clear()
        _since["rss"] = _rss_mb()


# Cases that each take 4-30 s on our 2-core machine and whose ground a faster case of the same file
# covers in the default suite (the dense twin of a fast check, a second size, a second program):
# they run with `python3 -m pytest -q -m slow`, which keeps the default suite near its time budget.
SLOW_CASES = (
    "tests/machines/fleq/test_fleq_faults.py::test_jle_is_exact_for_tiny_reals[pallas]",
    "tests/test_runner.py::test_the_tail_pool_runs_its_cards_by_turns_in_any_lane",
    "tests/machines/fleq/test_fleq_machine.py::test_every_step_matches_the_oracle[dense]",
    "tests/machines/fleq/test_fleq_machine.py::test_each_instance_halts_on_its_own",
    "tests/view/test_view_browser.py::test_the_page_at_each_checked_step_is_the_run[fleq]",
    "tests/machines/fleq/test_fleq_icl.py::test_mlp_backprop_losses_match_numpy",
    "tests/machines/fleq/test_fleq_linalg.py::test_power_iteration_4x4_on_random_symmetric_matrices",
    "tests/machines/fleq/test_fleq_linalg.py::test_inverse_4x4_on_random_spd_matrices",
    "tests/machines/fleq/test_fleq_linalg.py::test_a_batch_of_matrices_gives_what_each_gives_alone[16]",
    "tests/machines/subleq/test_programs_more.py::test_fleq_programs_match_the_oracle",
    "tests/machines/subleq/test_programs_more.py::test_fleq_programs_compute_what_they_say",
    "tests/kernels/test_kernels.py::test_backends_agree_after_every_step[70]",
    "tests/kernels/test_kernels.py::test_wide_words_fast_matches_dense",
    "tests/kernels/test_kernels.py::test_raw_state_within_correction_bound",
    "tests/kernels/test_batched.py::test_raw_state_matches_dense_every_step[48-8-5]",
    "tests/kernels/test_batched.py::test_raw_state_matches_dense_every_step[40-4-1]",
    "tests/machines/fleq/test_fleq_export.py::test_exported_machine_disassembles_to_a_program_that_runs_the_same",
    "tests/machines/fleq/test_fleq_export.py::test_numpy_forward_pass_reproduces_looped_run[programs/fleq/calculator.asm-settings0]",
    "tests/kernels/test_native_tables.py::test_the_table_form_is_the_literal_form_bit_for_bit",
    "tests/kernels/test_kernels.py::test_wide_cards_in_small_batches_take_the_per_card_kernel",
    "tests/test_machine.py::test_random_programs_step_by_step[16]",
    "tests/test_machine.py::test_random_programs_step_by_step[4]",
    "tests/test_machine.py::test_random_programs_step_by_step[8]",  # (tests/kernels/test_kernels.py: every backend against the oracle)
    "tests/machines/fleq/test_fleq_faults.py::test_a_subnormal_input_faults_where_it_is_read[pallas]",
    "tests/machines/fleq/test_fleq_faults.py::test_results_below_the_smallest_normal_fault[pallas]",
    "tests/machines/fleq/test_fleq_faults.py::test_out_of_domain_operands_fault[pallas]",
    "tests/view/test_view_browser.py::test_the_page_at_each_checked_step_is_the_run[tape]",
    "tests/machines/fleq/test_fleq_machine.py::test_dense_and_fast_agree",
    "tests/machines/subleq/test_programs.py::test_small_programs_match_the_oracle_on_the_dense_layers",
    "tests/test_hints.py::test_every_hint_holds_on_the_states_a_program_visits[programs/fleq/matrix_ops.asm]",
    "tests/machines/tape/test_tape_machine.py::test_other_word_sizes_and_full_output_cells_on_dense[20]",
    "tests/test_batching.py::test_batch_alone_padded_and_oracle[dense]",
    "tests/test_exactness.py::test_float64_above_the_float32_limit[32]",
)


def pytest_configure(config):
    # XLA's compilation cache, where `looped run` keeps it (~/.cache/looped/xla, LOOPED_CACHE_DIR),
    # from the first test on rather than from the first command-line test: a machine compiled
    # once, by the suite or by a user, is loaded, not compiled again. (The compiled loops that the
    # command line also keeps stay off, as after every test below.)
    from looped import executables
    from looped.cli.shell import enable_compilation_cache

    enable_compilation_cache()
    executables.disable()
    # Registered before the `-m 'not slow'` selection reads the markers.
    config._slow_cases = set(SLOW_CASES)



@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid in config._slow_cases:
            item.add_marker(pytest.mark.slow)
