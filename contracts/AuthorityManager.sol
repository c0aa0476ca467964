// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

import {CertificateVerifier} from "./CertificateVerifier.sol";
import {CommitteeConsensus} from "./CommitteeConsensus.sol";
import {FastPayTypes} from "./FastPayTypes.sol";

/// @title AuthorityManager
/// @notice Authorities of the FastPay committee: registration with a stake (native coin),
///         removal, epochs (each epoch's committee is snapshotted in CommitteeConsensus) and
///         slashing on equivocation evidence, with a reward to the reporter.
/// @dev Registration and removal change the NEXT committee; `advanceEpoch` makes it
///      current. Equivocation evidence = two different orders with the same (sender,
///      sequence, epoch), each with a valid vote signature by the same authority of that
///      epoch's committee. The whole stake is slashed: `rewardBps` of it goes to the reporter,
///      the rest to the treasury. A removed authority can withdraw its stake after
///      `unbondingPeriod`, so evidence can still reach it for that long.
contract AuthorityManager is AccessControl, ReentrancyGuard {
    using EnumerableSet for EnumerableSet.AddressSet;

    uint256 public constant MAX_REWARD_BPS = 10_000;

    CommitteeConsensus public immutable consensus;
    CertificateVerifier public immutable verifier;

    struct Authority {
        uint128 stake; // wei
        uint64 unbondingEnds; // timestamp after which a removed authority may withdraw
        bool slashed;
    }

    mapping(address authority => Authority) public authorities;
    mapping(bytes32 evidenceId => bool) public evidenceUsed;
    EnumerableSet.AddressSet private _nextCommittee;

    uint256 public immutable minStake;
    uint256 public rewardBps;
    uint256 public unbondingPeriod;
    address public treasury;

    event AuthorityRegistered(address indexed authority, uint256 stake);
    event AuthorityRemoved(address indexed authority, uint256 unbondingEnds);
    event StakeWithdrawn(address indexed authority, uint256 amount);
    event EpochAdvanced(uint64 indexed epoch, uint256 committeeSize);
    event AuthoritySlashed(
        address indexed authority,
        address indexed reporter,
        bytes32 indexed evidenceId,
        uint256 slashed,
        uint256 reward
    );
    event SlashingParametersChanged(uint256 rewardBps, address treasury);
    event UnbondingPeriodChanged(uint256 unbondingPeriod);

    error ZeroAddress();
    error StakeTooLow(uint256 given, uint256 minimum);
    error AlreadyRegistered(address authority);
    error NotRegistered(address authority);
    error AuthoritySlashedBefore(address authority);
    error StillBonded(uint256 unbondingEnds);
    error StillInCommittee(uint64 epoch);
    error NothingToWithdraw();
    error EmptyCommittee();
    error RewardTooHigh(uint256 bps);
    error NotEquivocation();
    error InvalidVoteSignature();
    error DifferentSigners(address first, address second);
    error NotCommitteeMember(address signer, uint64 epoch);
    error EvidenceAlreadyUsed(bytes32 evidenceId);
    error TransferFailed();

    /// @param admin Receives DEFAULT_ADMIN_ROLE (manages the committee).
    /// @param consensus_ Committee snapshots (this contract needs its MANAGER_ROLE).
    /// @param verifier_ Source of the EIP-712 vote digest.
    /// @param minStake_ Minimum stake per authority, in wei.
    /// @param rewardBps_ Share of a slashed stake paid to the reporter, in basis points.
    /// @param treasury_ Receives the rest of a slashed stake.
    constructor(
        address admin,
        CommitteeConsensus consensus_,
        CertificateVerifier verifier_,
        uint256 minStake_,
        uint256 rewardBps_,
        address treasury_
    ) {
        if (admin == address(0) || treasury_ == address(0)) revert ZeroAddress();
        if (rewardBps_ > MAX_REWARD_BPS) revert RewardTooHigh(rewardBps_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        consensus = consensus_;
        verifier = verifier_;
        minStake = minStake_;
        rewardBps = rewardBps_;
        treasury = treasury_;
        unbondingPeriod = 14 days;
    }

    // ---------------------------------------------------------------- membership

    /// @notice Add `authority` to the next committee; `msg.value` is its stake (its weight
    ///         in the quorum), returned to `authority` itself after removal and unbonding.
    function registerAuthority(address authority) external payable onlyRole(DEFAULT_ADMIN_ROLE) {
        if (authority == address(0)) revert ZeroAddress();
        if (msg.value < minStake) revert StakeTooLow(msg.value, minStake);
        Authority storage a = authorities[authority];
        if (a.slashed) revert AuthoritySlashedBefore(authority);
        if (a.stake != 0 || _nextCommittee.contains(authority)) revert AlreadyRegistered(authority);
        a.stake = uint128(msg.value);
        a.unbondingEnds = 0;
        _nextCommittee.add(authority);
        emit AuthorityRegistered(authority, msg.value);
    }

    /// @notice Take `authority` out of the next committee; its stake unbonds.
    function removeAuthority(address authority) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!_nextCommittee.remove(authority)) revert NotRegistered(authority);
        uint64 ends = uint64(block.timestamp + unbondingPeriod);
        authorities[authority].unbondingEnds = ends;
        emit AuthorityRemoved(authority, ends);
    }

    /// @notice A removed authority takes its stake back once unbonded and out of the
    ///         current committee.
    function withdrawStake() external nonReentrant {
        Authority storage a = authorities[msg.sender];
        uint256 amount = a.stake;
        if (amount == 0) revert NothingToWithdraw();
        if (_nextCommittee.contains(msg.sender) || block.timestamp < a.unbondingEnds) {
            revert StillBonded(a.unbondingEnds);
        }
        // removed from the next committee, but the current one still counts its votes
        uint64 epoch = consensus.currentEpoch();
        if (consensus.stakeOf(epoch, msg.sender) != 0) revert StillInCommittee(epoch);
        a.stake = 0;
        emit StakeWithdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    /// @notice Snapshot the next committee as the committee of epoch currentEpoch + 1.
    function advanceEpoch() external onlyRole(DEFAULT_ADMIN_ROLE) returns (uint64 epoch) {
        address[] memory members = _nextCommittee.values();
        if (members.length == 0) revert EmptyCommittee();
        uint256[] memory stakes = new uint256[](members.length);
        for (uint256 i = 0; i < members.length; ++i) {
            stakes[i] = authorities[members[i]].stake;
        }
        epoch = consensus.currentEpoch() + 1;
        consensus.snapshot(epoch, members, stakes);
        emit EpochAdvanced(epoch, members.length);
    }

    /// @notice Change the reporter reward and the treasury.
    function setSlashingParameters(uint256 rewardBps_, address treasury_)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (treasury_ == address(0)) revert ZeroAddress();
        if (rewardBps_ > MAX_REWARD_BPS) revert RewardTooHigh(rewardBps_);
        rewardBps = rewardBps_;
        treasury = treasury_;
        emit SlashingParametersChanged(rewardBps_, treasury_);
    }

    /// @notice Change how long a removed authority's stake stays slashable.
    function setUnbondingPeriod(uint256 period) external onlyRole(DEFAULT_ADMIN_ROLE) {
        unbondingPeriod = period;
        emit UnbondingPeriodChanged(period);
    }

    // ---------------------------------------------------------------- views

    /// @notice True when `authority` is in the current epoch's committee and not slashed.
    function isAuthorityActive(address authority) external view returns (bool) {
        uint64 epoch = consensus.currentEpoch();
        return consensus.stakeOf(epoch, authority) != 0 && !authorities[authority].slashed;
    }

    /// @notice Number of members of the current epoch's committee.
    function getCommitteeSize() external view returns (uint256) {
        return consensus.membersOf(consensus.currentEpoch()).length;
    }

    /// @notice Members that will form the committee at the next `advanceEpoch`.
    function nextCommittee() external view returns (address[] memory) {
        return _nextCommittee.values();
    }

    /// @notice Current epoch (0 before the first `advanceEpoch`).
    function currentEpoch() external view returns (uint64) {
        return consensus.currentEpoch();
    }

    /// @notice Identifier of equivocation evidence: one per (authority, sender, sequence, epoch).
    function evidenceIdOf(address authority, address sender, uint64 sequence, uint64 epoch)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(authority, sender, sequence, epoch));
    }

    // ---------------------------------------------------------------- slashing

    /// @notice Slash an authority that voted for two different orders with the same sender,
    ///         sequence and epoch. Anyone may report; the reporter receives the reward.
    /// @param first One order, with the authority's 65-byte vote signature `firstSig`.
    /// @param second A different order for the same (sender, sequence, epoch), `secondSig`.
    function reportEquivocation(
        FastPayTypes.TransferOrder calldata first,
        bytes calldata firstSig,
        FastPayTypes.TransferOrder calldata second,
        bytes calldata secondSig
    ) external nonReentrant {
        if (
            first.sender != second.sender || first.sequence != second.sequence
                || first.epoch != second.epoch
                || FastPayTypes.hashOrder(first) == FastPayTypes.hashOrder(second)
        ) revert NotEquivocation();
        address signer = _recoverVote(first, firstSig);
        address other = _recoverVote(second, secondSig);
        if (signer != other) revert DifferentSigners(signer, other);
        if (consensus.stakeOf(first.epoch, signer) == 0) revert NotCommitteeMember(signer, first.epoch);
        bytes32 evidenceId = evidenceIdOf(signer, first.sender, first.sequence, first.epoch);
        if (evidenceUsed[evidenceId]) revert EvidenceAlreadyUsed(evidenceId);
        Authority storage a = authorities[signer];
        if (a.slashed) revert AuthoritySlashedBefore(signer);

        evidenceUsed[evidenceId] = true;
        a.slashed = true;
        uint256 stake = a.stake;
        a.stake = 0;
        _nextCommittee.remove(signer);
        uint256 reward = (stake * rewardBps) / MAX_REWARD_BPS;
        emit AuthoritySlashed(signer, msg.sender, evidenceId, stake, reward);

        consensus.disqualify(signer);
        if (reward != 0) _send(msg.sender, reward);
        if (stake != reward) _send(treasury, stake - reward);
    }

    function _recoverVote(FastPayTypes.TransferOrder calldata order, bytes calldata signature)
        private
        view
        returns (address signer)
    {
        ECDSA.RecoverError err;
        (signer, err,) = ECDSA.tryRecoverCalldata(verifier.voteDigest(order), signature);
        if (err != ECDSA.RecoverError.NoError) revert InvalidVoteSignature();
    }

    function _send(address to, uint256 amount) private {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }
}
