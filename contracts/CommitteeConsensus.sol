// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title CommitteeConsensus
/// @notice Snapshot of the authority committee (members and stake) for every epoch, so that
///         certificates of an epoch stay verifiable while the committee changes, and the
///         set of slashed authorities, whose signatures no longer count in any epoch.
/// @dev Written only by the AuthorityManager (MANAGER_ROLE).
contract CommitteeConsensus is AccessControl {
    bytes32 public constant MANAGER_ROLE = keccak256("MANAGER_ROLE");

    /// @notice The latest epoch with a committee (0 = none yet; epochs start at 1).
    uint64 public currentEpoch;
    mapping(uint64 epoch => uint256) public totalStake;
    mapping(uint64 epoch => mapping(address authority => uint256)) public stakeOf;
    mapping(address authority => bool) public isSlashed;
    mapping(uint64 epoch => address[]) private _members;

    event CommitteeSnapshot(uint64 indexed epoch, address[] members, uint256[] stakes, uint256 totalStake);
    event AuthorityDisqualified(address indexed authority);

    error EpochOutOfOrder(uint64 expected, uint64 given);
    error EmptyCommittee();
    error LengthMismatch();
    error DuplicateMember(address authority);
    error ZeroStake(address authority);

    /// @param admin Receives DEFAULT_ADMIN_ROLE (grants MANAGER_ROLE to the AuthorityManager).
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Record the committee of `epoch`, which must be currentEpoch + 1.
    /// @param members Authority addresses (distinct).
    /// @param stakes Stake weight of each member (non-zero).
    function snapshot(uint64 epoch, address[] calldata members, uint256[] calldata stakes)
        external
        onlyRole(MANAGER_ROLE)
    {
        if (epoch != currentEpoch + 1) revert EpochOutOfOrder(currentEpoch + 1, epoch);
        if (members.length == 0) revert EmptyCommittee();
        if (members.length != stakes.length) revert LengthMismatch();
        uint256 total;
        for (uint256 i = 0; i < members.length; ++i) {
            address member = members[i];
            if (stakes[i] == 0) revert ZeroStake(member);
            if (stakeOf[epoch][member] != 0) revert DuplicateMember(member);
            stakeOf[epoch][member] = stakes[i];
            total += stakes[i];
        }
        totalStake[epoch] = total;
        _members[epoch] = members;
        currentEpoch = epoch;
        emit CommitteeSnapshot(epoch, members, stakes, total);
    }

    /// @notice Stop counting `authority`'s signatures in every epoch (after slashing).
    function disqualify(address authority) external onlyRole(MANAGER_ROLE) {
        isSlashed[authority] = true;
        emit AuthorityDisqualified(authority);
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
}
