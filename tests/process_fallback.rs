//! The core child-process checks on the fallback path: `SIGCHLD` instead of pidfds.
//!
//! The switch (`LOOPLET_NO_PIDFD=1`) is read once per process, so each test here re-runs
//! this binary with it set, for that one test (see `process_core::without_pidfd`): the
//! child process checks that its children really are watched through `SIGCHLD`.

mod process_core;

macro_rules! fallback_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                process_core::without_pidfd(stringify!($name), process_core::$name);
            }
        )*
    };
}

fallback_tests!(
    output_of_echo,
    exit_codes,
    a_mebibyte_through_cat_both_ways,
    kill_ends_a_sleeping_child,
    a_hundred_concurrent_children,
    stderr_flood_does_not_deadlock,
    no_zombie_after_wait,
    no_zombie_after_dropping_a_running_child,
    kill_on_drop_kills_and_reaps,
    dropped_without_a_loop_is_reaped_by_the_next_spawn,
    dropped_loop_hands_its_reapers_to_the_orphan_list,
    a_child_held_by_a_task_of_a_dropped_loop_is_reaped,
    writing_to_an_exited_child_is_broken_pipe,
    spawning_a_missing_program_is_not_found,
    wait_is_cancel_safe,
    output_defaults_and_reuse,
    children_waited_from_many_tasks,
);
