# cell's hook for fish: add  cell hook fish | source  to ~/.config/fish/config.fish.
#
# Outside a cell: at a prompt where $PWD changed, look for .cell.json here and above (builtins
# only) and, for a project other than the last one seen, run 'cell enter', which takes the
# terminal until the cell's shell ends. Inside a cell entered this way: a cd out of the project
# (or into another project within it) ends the cell's shell and tells the outer one where to
# go, which it does only outside the project or into a project within it (else: to the
# project's root, the cell could have written anything). A prompt where $PWD did not change
# runs built-ins only. CELL_DISABLE=1 turns it off.
if status is-interactive; and not set -q _cell_hooked
    set -g _cell_hooked 1
    set -g _cell_bin @CELL@
    set -g _cell_trust @TRUST_DIR@
    set -g _cell_pwd ''
    set -g _cell_root ''
    set -g _cell_pending ''
    set -g _cell_found ''
    set -g _cell_path ''
    set -l runtime /tmp
    if set -q TMPDIR; and test -n "$TMPDIR"
        set runtime $TMPDIR
    end
    if set -q XDG_RUNTIME_DIR; and test -n "$XDG_RUNTIME_DIR"
        set runtime $XDG_RUNTIME_DIR
    end
    set -g _cell_leave $runtime/cell-hook.(id -u).$fish_pid
    set -gx CELL_HOOK "fish $fish_pid"

    # the leave file goes with this shell
    function _cell_exit --on-event fish_exit
        set -q CELL_LEAVE; or command rm -f -- $_cell_leave
    end

    # The nearest directory from $argv[1] up (stopping short of $argv[2], if given) with a
    # .cell.json, in _cell_found.
    function _cell_find
        set -l d (string replace -r '/$' '' -- $argv[1])
        set -g _cell_found ''
        while true
            if test (count $argv) -ge 2; and test "$d" = "$argv[2]"
                return 1
            end
            if test -f "$d/.cell.json"
                set -g _cell_found $d
                test -z "$d"; and set -g _cell_found /
                return 0
            end
            test -z "$d"; and return 1
            set d (string replace -r '/[^/]*$' '' -- $d)
        end
    end

    # $argv[1] made absolute and without . and .., in _cell_path.
    function _cell_norm
        set -l p $argv[1]
        string match -q '/*' -- $p; or set p $PWD/$p
        set -l out ''
        for part in (string split / -- $p)
            switch $part
                case '' .
                case ..
                    set out (string replace -r '/[^/]*$' '' -- $out)
                case '*'
                    set out $out/$part
            end
        end
        test -z "$out"; and set out /
        set -g _cell_path $out
    end

    # Whether $argv[1] (absolute, without . and ..) is the directory $argv[2] or below it as the
    # kernel finds them (symbolic links followed): $argv[1], its /.., ... up to / compared with
    # $argv[2] by device and inode. Where one cannot be looked at halfway (a path too long), it
    # is.
    function _cell_within
        set -l d $argv[1]
        test -d "$d"; or return 1
        while not test "$d" -ef "$argv[2]"
            test "$d" -ef /; and return 1
            set d $d/..
            test -d "$d"; or return 0
        end
    end

    function _cell_enter
        # where cd - in the cell goes
        set -q dirprev[1]; and set -lx OLDPWD $dirprev[-1]
        $_cell_bin enter --leave-to $_cell_leave
        set -l to ''
        read -z to <$_cell_leave
        set -g _cell_pending ''
        switch "$to"
            case ''
                set -g _cell_pending 1
            case +
                # from the project's root, where its .git is the protected one (below, the cell
                # could have made any)
                test "$PWD" -ef "$_cell_root"; or cd $_cell_root
            case '+/*'
                _cell_land (string sub -s 2 -- $to)
            case '*'
                # (not an absolute path)
                cd $_cell_root
        end
    end

    # Outside, after the cell of $_cell_root handed out $argv[1] (an absolute path, from a file
    # the cell can write): a place outside the project is where we go. A place within (one that
    # a build script prepared, .git/config and all, for the prompt's git to run) only in a
    # project within this one, whose cell we then enter; else, and if that cell is not entered,
    # the project's root, as when the cell's shell ends. (cd: the function, which keeps dirprev,
    # for cd -)
    function _cell_land
        set -l root $_cell_root
        _cell_norm $argv[1]
        if not _cell_within $_cell_path $root
            cd $_cell_path
            return
        end
        if _cell_find $_cell_path $root; and _cell_within $_cell_found $root
            and not test "$_cell_found" -ef "$root"; and cd $_cell_path
            set -g _cell_pwd $PWD
            set -g _cell_root $_cell_found
            _cell_enter
            test -z "$_cell_pending"; and return
            set -g _cell_pending ''
            set -g _cell_root $root
        end
        cd $root
    end

    function _cell_outside
        while test "$PWD" != "$_cell_pwd"
            set -g _cell_pwd $PWD
            _cell_find $PWD
            test "$_cell_found" = "$_cell_root"; and return
            set -g _cell_root $_cell_found
            set -g _cell_pending ''
            test -n "$_cell_root"; and _cell_enter
        end
        if test -n "$_cell_pending"
            if test "$_cell_trust" -nt "$_cell_leave"; or test "$_cell_root/.cell.json" -nt "$_cell_leave"
                _cell_enter
                _cell_outside
            end
        end
    end

    function _cell_out
        printf '+%s' $argv[1] >$CELL_LEAVE
        exit 0
    end

    # What the cell refused since the last prompt (cell writes them, a line each), dimmed:
    # fish keeps no descriptor open across prompts, so the lines seen are counted.
    set -g _cell_nseen 0
    set -g _cell_seen /tmp/.cell-notices-seen.$fish_pid
    function _cell_notices
        set -l n 0
        while read -l line
            set n (math $n + 1)
            if test $n -gt $_cell_nseen
                printf '\e[2m%s\e[0m\n' $line >&2
            end
        end <$CELL_NOTICES
        set -g _cell_nseen $n
        printf '' >$_cell_seen
    end

    function _cell_inside
        set -g _cell_pwd $PWD
        if string match -q -- "$CELL_ROOT/*" "$PWD/"
            _cell_find $PWD $CELL_ROOT; or return
        end
        _cell_out $PWD
    end

    # the cell's first shell hands the way out; a shell started in it is just a shell
    if set -q CELL_LEAVE
        if set -q CELL_LEAVE_PID; and test "$CELL_LEAVE_PID" != "$fish_pid"
            set -e CELL_LEAVE
        else
            set -gx CELL_LEAVE_PID $fish_pid
        end
    end

    function _cell_hook --on-event fish_prompt
        set -q CELL_DISABLE; and test "$CELL_DISABLE" != 0; and return
        if set -q CELL_LEAVE
            # notices written since they were last read (a time test, no read)
            if set -q CELL_NOTICES; and not test "$_cell_seen" -nt "$CELL_NOTICES"
                _cell_notices
            end
            test "$PWD" != "$_cell_pwd"; and _cell_inside
        else if not set -q CELL_ID; and test "$PWD" != "$_cell_pwd" -o -n "$_cell_pending"
            # (not in a cell: another shell started in one is just a shell)
            _cell_outside
        end
    end

    if set -q CELL_LEAVE
        # a place that exists outside only (most of $HOME): straight out, to be looked for
        # there
        # cd - goes where the outer shell was before
        set -q CELL_OLDPWD; and set -g dirprev $CELL_OLDPWD
        functions -c cd _cell_prev_cd
        function cd --wraps cd
            if not set -q CELL_DISABLE; or test "$CELL_DISABLE" = 0
                if test (count $argv) -eq 1; and begin; test "$argv[1]" = -; or not string match -q -- '-*' $argv[1]; end
                    if test "$argv[1]" = -; and set -q dirprev[1]
                        _cell_norm $dirprev[-1]
                    else if test "$argv[1]" = -
                        _cell_norm .
                    else
                        _cell_norm $argv[1]
                    end
                    if not string match -q -- "$CELL_ROOT/*" "$_cell_path/"
                        test "$argv[1]" != -; and test -d "$_cell_path"; or _cell_out $_cell_path
                    end
                end
            end
            _cell_prev_cd $argv
        end
    end
end
