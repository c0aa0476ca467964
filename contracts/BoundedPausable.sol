// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title BoundedPausable
/// @notice A pause that ends by itself. The guardian's pause lasts at most
///         MAX_PAUSE_DURATION (3 days) and can be lifted earlier by the admin; a new pause can
///         start only PAUSE_COOLDOWN (1 day) after the previous one ended, so no key can keep
///         a contract paused indefinitely: users get at least one day in every four.
/// @dev Same events and errors as OpenZeppelin's Pausable (`Paused`, `Unpaused`,
///      `EnforcedPause`, `ExpectedPause`); `paused()` is computed from `pausedUntil` (an
///      expired pause needs no transaction to end). The inheriting contract decides who may
///      call `_pauseBounded` and `_unpauseEarly`.
abstract contract BoundedPausable {
    uint64 public constant MAX_PAUSE_DURATION = 3 days;
    uint64 public constant PAUSE_COOLDOWN = 1 days;

    /// @notice The current (or last) pause ends at this time (0 = never paused).
    uint64 public pausedUntil;

    event Paused(address account);
    event Unpaused(address account);

    error EnforcedPause();
    error ExpectedPause();
    /// @dev A new pause is refused until `from` (the previous pause's end + PAUSE_COOLDOWN).
    error PauseCooldown(uint64 from);

    modifier whenNotPaused() {
        if (paused()) revert EnforcedPause();
        _;
    }

    /// @notice True while a pause is in force (it ends by itself at `pausedUntil`).
    function paused() public view virtual returns (bool) {
        return block.timestamp < pausedUntil;
    }

    /// @dev Pause for MAX_PAUSE_DURATION from now. Returns the pause's end.
    function _pauseBounded() internal returns (uint64 until) {
        if (paused()) revert EnforcedPause();
        uint64 last = pausedUntil;
        if (last != 0 && block.timestamp < uint256(last) + PAUSE_COOLDOWN) revert PauseCooldown(last + PAUSE_COOLDOWN);
        until = uint64(block.timestamp) + MAX_PAUSE_DURATION;
        pausedUntil = until;
        emit Paused(msg.sender);
    }

    /// @dev End the pause in force now (its cooldown starts now).
    function _unpauseEarly() internal {
        if (!paused()) revert ExpectedPause();
        pausedUntil = uint64(block.timestamp);
        emit Unpaused(msg.sender);
    }
}
