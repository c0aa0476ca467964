// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";

/// @title CommitteeConsensus
/// @notice The epoch schedule of the FastPay committee: for every epoch its members, their
///         stake and the time it activates; when its certificates stop settling; and the
///         set of slashed authorities, whose signatures no longer count in any epoch.
/// @dev Epoch e is ACTIVE on [activatesAt(e), activatesAt(e+1)) and closed after that; its
///      certificates settle on-chain until settlesUntil(e) = activatesAt(e+1) +
///      settlementWindow (the window in force when e+1 was snapshotted; never earlier than
///      settlesUntil(e-1), so the last epoch an authority was a member of bounds them all).
///      Snapshots are written only by the AuthorityManager (MANAGER_ROLE); this is the one
///      place where a committee is validated on-chain (same rules as
///      fastpay_protocol.membership): 1..255 members, stake > 0, no duplicate, and in a
///      committee of 4 or more no member holding 1/3 of the stake or more (f of 3f+1 holds
///      only then). DEFAULT_ADMIN_ROLE is the TimelockController (two-step transfer with a
///      delay, AccessControlDefaultAdminRules).
contract CommitteeConsensus is AccessControlDefaultAdminRules {
    bytes32 public constant MANAGER_ROLE = keccak256("MANAGER_ROLE");

    /// @notice Slack in MIN_SETTLEMENT_WINDOW beyond one pause and one cooldown.
    uint64 public constant SETTLEMENT_MARGIN = 3 days;
    /// @notice Bounds of the settlement window (how long a closed epoch's certificates settle).
    /// @dev The floor outlasts the longest pause of the OfflinePaymentProcessor plus the
    ///      shortest gap between two pauses, plus a margin: BoundedPausable's
    ///      MAX_PAUSE_DURATION (3 days) + PAUSE_COOLDOWN (1 day) + SETTLEMENT_MARGIN (3 days)
    ///      = 7 days (restated here: solc does not read another contract's constants;
    ///      tests/contracts/test_processor_settlement_rules.py pins the relation). A pause can
    ///      therefore never make a closed epoch's redemption unsettleable (its sender was
    ///      already debited in FastPay): even if a pause starts as the epoch closes, it ends
    ///      with 4 days of the window left, the first PAUSE_COOLDOWN of which cannot be paused
    ///      again; every window holds at least one full unpaused day wherever pauses fall.
    uint64 public constant MIN_SETTLEMENT_WINDOW = 3 days + 1 days + SETTLEMENT_MARGIN;
    uint64 public constant MAX_SETTLEMENT_WINDOW = 90 days;
    uint256 public constant MAX_MEMBERS = 255;
    /// @notice Committees of this size or more refuse a member with >= 1/3 of the stake.
    uint256 public constant CONCENTRATION_MIN_MEMBERS = 4;

    /// @notice The latest registered epoch (0 = none yet; epochs start at 1). It may not be
    ///         active yet: see activeEpoch().
    uint64 public currentEpoch;
    /// @notice Added to an epoch's close (its successor's activatesAt) to give settlesUntil.
    uint64 public settlementWindow;
    mapping(uint64 epoch => uint256) public totalStake;
    mapping(uint64 epoch => mapping(address authority => uint256)) public stakeOf;
    mapping(address authority => bool) public isSlashed;
    mapping(uint64 epoch => address[]) private _members;
    mapping(uint64 epoch => uint64) private _activatesAt;
    mapping(uint64 epoch => uint64) private _settlesUntil;

    event CommitteeSnapshot(
        uint64 indexed epoch,
        address[] members,
        uint256[] stakes,
        uint256 totalStake,
        uint64 activatesAt
    );
    event AuthorityDisqualified(address indexed authority);
    event SettlementWindowChanged(uint64 settlementWindow);

    error EpochOutOfOrder(uint64 expected, uint64 given);
    error EmptyCommittee();
    error TooManyMembers(uint256 count);
    error LengthMismatch();
    error DuplicateMember(address authority);
    error ZeroStake(address authority);
    error StakeTooConcentrated(address authority, uint256 stake, uint256 totalStake);
    error PreviousEpochNotActive(uint64 epoch, uint64 activatesAt);
    error ActivationNotInFuture(uint64 activatesAt, uint256 now_);
    error SettlementWindowOutOfRange(uint64 given, uint64 minimum, uint64 maximum);

    /// @param adminDelay Delay of a DEFAULT_ADMIN_ROLE transfer (AccessControlDefaultAdminRules).
    /// @param admin DEFAULT_ADMIN_ROLE: the TimelockController (grants MANAGER_ROLE to the
    ///        AuthorityManager, sets the settlement window).
    /// @param settlementWindow_ Initial settlement window, in seconds.
    constructor(uint48 adminDelay, address admin, uint64 settlementWindow_)
        AccessControlDefaultAdminRules(adminDelay, admin)
    {
        _setSettlementWindow(settlementWindow_);
    }

    // ---------------------------------------------------------------- writes

    /// @notice Record the committee of `epoch` (= currentEpoch + 1), active from `activatesAt_`.
    /// @dev The first epoch may activate at once: an `activatesAt_` in the past is recorded as
    ///      this block's timestamp. A later epoch activates strictly in the future (the
    ///      AuthorityManager enforces its activation delay), and only once the previous epoch
    ///      is active, so every epoch is active for at least the activation delay. Recording
    ///      epoch e+1 closes epoch e and fixes settlesUntil(e).
    function snapshot(
        uint64 epoch,
        address[] calldata members,
        uint256[] calldata stakes,
        uint64 activatesAt_
    ) external onlyRole(MANAGER_ROLE) {
        uint64 start = activatesAt_;
        uint64 previous = currentEpoch;
        if (epoch != previous + 1) revert EpochOutOfOrder(previous + 1, epoch);
        uint256 total = _validate(epoch, members, stakes);
        if (previous == 0) {
            if (start < block.timestamp) start = uint64(block.timestamp);
        } else {
            uint64 previousStart = _activatesAt[previous];
            if (previousStart > block.timestamp) revert PreviousEpochNotActive(previous, previousStart);
            if (start <= block.timestamp) revert ActivationNotInFuture(start, block.timestamp);
            uint64 settles = start + settlementWindow;
            uint64 before = _settlesUntil[previous - 1];
            _settlesUntil[previous] = settles > before ? settles : before;
        }
        totalStake[epoch] = total;
        _members[epoch] = members;
        _activatesAt[epoch] = start;
        currentEpoch = epoch;
        emit CommitteeSnapshot(epoch, members, stakes, total, start);
    }

    /// @notice Stop counting `authority`'s signatures in every epoch (after slashing).
    function disqualify(address authority) external onlyRole(MANAGER_ROLE) {
        isSlashed[authority] = true;
        emit AuthorityDisqualified(authority);
    }

    /// @notice Change the settlement window of the epochs closed from now on (an epoch
    ///         already closed keeps its settlesUntil).
    function setSettlementWindow(uint64 window) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setSettlementWindow(window);
    }

    // ---------------------------------------------------------------- views

    /// @notice When `epoch` activates (0 for an unknown epoch).
    function activatesAt(uint64 epoch) external view returns (uint64) {
        return _activatesAt[epoch];
    }

    /// @notice The latest epoch with activatesAt <= block.timestamp (0 before the first).
    function activeEpoch() public view returns (uint64 epoch) {
        epoch = currentEpoch;
        while (epoch != 0 && _activatesAt[epoch] > block.timestamp) --epoch;
    }

    /// @notice Until when `epoch`'s certificates settle on-chain: 0 while it has no
    ///         successor (it has not closed), else activatesAt(epoch + 1) + settlementWindow.
    function settlesUntil(uint64 epoch) external view returns (uint64) {
        return _settlesUntil[epoch];
    }

    /// @notice Stake and slashing status of `authority` in `epoch`, in one call.
    function memberInfo(uint64 epoch, address authority)
        external
        view
        returns (uint256 stake, bool slashed)
    {
        return (stakeOf[epoch][authority], isSlashed[authority]);
    }

    /// @notice Members of the committee of `epoch`.
    function membersOf(uint64 epoch) external view returns (address[] memory) {
        return _members[epoch];
    }

    /// @notice Smallest stake sum that is a quorum in `epoch` (strictly more than 2/3).
    function quorumStake(uint64 epoch) external view returns (uint256) {
        return (totalStake[epoch] * 2) / 3 + 1;
    }

    // ---------------------------------------------------------------- internals

    function _validate(uint64 epoch, address[] calldata members, uint256[] calldata stakes)
        private
        returns (uint256 total)
    {
        uint256 count = members.length;
        if (count == 0) revert EmptyCommittee();
        if (count > MAX_MEMBERS) revert TooManyMembers(count);
        if (count != stakes.length) revert LengthMismatch();
        for (uint256 i = 0; i < count; ++i) {
            address member = members[i];
            if (stakes[i] == 0) revert ZeroStake(member);
            if (stakeOf[epoch][member] != 0) revert DuplicateMember(member);
            stakeOf[epoch][member] = stakes[i];
            total += stakes[i];
        }
        if (count >= CONCENTRATION_MIN_MEMBERS) {
            for (uint256 i = 0; i < count; ++i) {
                if (stakes[i] * 3 >= total) revert StakeTooConcentrated(members[i], stakes[i], total);
            }
        }
    }

    function _setSettlementWindow(uint64 window) private {
        if (window < MIN_SETTLEMENT_WINDOW || window > MAX_SETTLEMENT_WINDOW) {
            revert SettlementWindowOutOfRange(window, MIN_SETTLEMENT_WINDOW, MAX_SETTLEMENT_WINDOW);
        }
        settlementWindow = window;
        emit SettlementWindowChanged(window);
    }
}
