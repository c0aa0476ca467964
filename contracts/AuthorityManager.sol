// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

import {CertificateVerifier} from "./CertificateVerifier.sol";
import {CommitteeConsensus} from "./CommitteeConsensus.sol";
import {FastPayTypes} from "./FastPayTypes.sol";

/// @title AuthorityManager
/// @notice Authorities of the FastPay committee: registration with a stake (native coin)
///         and the node's endpoint, removal, epochs (each epoch's committee and activation
///         time are snapshotted in CommitteeConsensus) and slashing on equivocation
///         evidence, with a reward to the reporter (commit-reveal, so that copying a pending
///         report steals nothing).
/// @dev DEFAULT_ADMIN_ROLE is the TimelockController: registration, removal, advanceEpoch
///      and every parameter change wait for its delay. Registration and removal change the
///      NEXT committee; `advanceEpoch(activatesAt)` snapshots it as the next epoch, which
///      activates no earlier than `activationDelay` from now.
///      Equivocation evidence = two votes by the same authority for orders with the same
///      (sender, sequence) that are not the same payment (recipient, token or amount
///      differ), in any epochs, each vote by a member of its order's epoch; a re-epoched
///      order (same payment, another epoch) is not evidence. The whole stake is slashed:
///      `rewardBps` of it goes to the reporter, the rest to the treasury.
///      Stake is locked until the epochs an authority was a member of can no longer
///      settle: a removed authority withdraws `unbondingPeriod` after the later of its
///      removal and settlesUntil(the last epoch it was a member of).
contract AuthorityManager is AccessControlDefaultAdminRules, ReentrancyGuard {
    using EnumerableSet for EnumerableSet.AddressSet;

    uint256 public constant MAX_REWARD_BPS = 10_000;
    /// @notice Floor of `activationDelay` (the notice between announcing and activating an epoch).
    uint64 public constant MIN_ACTIVATION_DELAY = 1 hours;
    /// @notice Floor of `unbondingPeriod` (slashable after the last settlement).
    uint64 public constant MIN_UNBONDING_PERIOD = 7 days;
    uint256 public constant MAX_ENDPOINT_LENGTH = 256;

    CommitteeConsensus public immutable consensus;
    CertificateVerifier public immutable verifier;

    struct Authority {
        uint128 stake; // wei
        uint64 removedAt; // 0 while registered
        uint64 lastEpoch; // the latest epoch it was a member of (0 = none)
        bool slashed;
    }

    mapping(address authority => Authority) public authorities;
    mapping(address authority => string) private _endpoints;
    mapping(bytes32 evidenceId => bool) public evidenceUsed;
    /// @notice Block in which an evidence commitment was made (0 = never).
    mapping(bytes32 commitment => uint256 blockNumber) public commitments;
    EnumerableSet.AddressSet private _nextCommittee;

    uint256 public immutable minStake;
    uint256 public rewardBps;
    uint64 public unbondingPeriod;
    uint64 public activationDelay;
    address public treasury;

    event AuthorityRegistered(address indexed authority, uint256 stake);
    event EndpointChanged(address indexed authority, string endpoint);
    event AuthorityRemoved(address indexed authority, uint256 removedAt);
    event StakeWithdrawn(address indexed authority, uint256 amount);
    event EpochAdvanced(uint64 indexed epoch, uint256 committeeSize, uint64 activatesAt);
    event EvidenceCommitted(bytes32 indexed commitment, uint256 blockNumber);
    event AuthoritySlashed(
        address indexed authority,
        address indexed reporter,
        bytes32 indexed evidenceId,
        uint256 slashed,
        uint256 reward
    );
    event SlashingParametersChanged(uint256 rewardBps, address treasury);
    event UnbondingPeriodChanged(uint64 unbondingPeriod);
    event ActivationDelayChanged(uint64 activationDelay);

    error ZeroAddress();
    error StakeTooLow(uint256 given, uint256 minimum);
    error AlreadyRegistered(address authority);
    error NotRegistered(address authority);
    error AuthoritySlashedBefore(address authority);
    error StillBonded(uint64 withdrawableAt);
    error NothingToWithdraw();
    error NothingToSlash(address authority);
    error EmptyCommittee();
    error RewardTooHigh(uint256 bps);
    error UnbondingTooShort(uint64 given, uint64 minimum);
    error ActivationDelayTooShort(uint64 given, uint64 minimum);
    error ActivationTooEarly(uint64 given, uint256 earliest);
    error InvalidEndpoint();
    error NotEquivocation();
    error InvalidVoteSignature();
    error DifferentSigners(address first, address second);
    error NotCommitteeMember(address signer, uint64 epoch);
    error EvidenceAlreadyUsed(bytes32 evidenceId);
    error NotCommitted(bytes32 commitment);
    error RevealTooEarly(uint256 committedAt);
    error TransferFailed();

    /// @param adminDelay Delay of a DEFAULT_ADMIN_ROLE transfer (AccessControlDefaultAdminRules).
    /// @param admin DEFAULT_ADMIN_ROLE: the TimelockController.
    /// @param consensus_ Committee snapshots (this contract needs its MANAGER_ROLE).
    /// @param verifier_ Source of the EIP-712 vote digest.
    /// @param minStake_ Minimum stake per authority, in wei.
    /// @param rewardBps_ Share of a slashed stake paid to the reporter, in basis points.
    /// @param treasury_ Receives the rest of a slashed stake.
    /// @param activationDelay_ Notice before a new epoch activates (>= MIN_ACTIVATION_DELAY).
    /// @param unbondingPeriod_ Slashable time after the last settlement (>= MIN_UNBONDING_PERIOD).
    constructor(
        uint48 adminDelay,
        address admin,
        CommitteeConsensus consensus_,
        CertificateVerifier verifier_,
        uint256 minStake_,
        uint256 rewardBps_,
        address treasury_,
        uint64 activationDelay_,
        uint64 unbondingPeriod_
    ) AccessControlDefaultAdminRules(adminDelay, admin) {
        if (treasury_ == address(0)) revert ZeroAddress();
        if (rewardBps_ > MAX_REWARD_BPS) revert RewardTooHigh(rewardBps_);
        consensus = consensus_;
        verifier = verifier_;
        minStake = minStake_;
        rewardBps = rewardBps_;
        treasury = treasury_;
        _setActivationDelay(activationDelay_);
        _setUnbondingPeriod(unbondingPeriod_);
    }

    // ---------------------------------------------------------------- membership

    /// @notice Add `authority` to the next committee; `msg.value` is its stake (its weight
    ///         in the quorum), returned to `authority` itself after removal and unbonding;
    ///         `endpoint` is its node's URL (the authority may change it with setEndpoint).
    function registerAuthority(address authority, string calldata endpoint)
        external
        payable
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (authority == address(0)) revert ZeroAddress();
        if (msg.value < minStake) revert StakeTooLow(msg.value, minStake);
        Authority storage a = authorities[authority];
        if (a.slashed) revert AuthoritySlashedBefore(authority);
        if (a.stake != 0 || _nextCommittee.contains(authority)) revert AlreadyRegistered(authority);
        // a returning authority withdrew, so every epoch it was in can no longer settle
        authorities[authority] = Authority(uint128(msg.value), 0, 0, false);
        _nextCommittee.add(authority);
        emit AuthorityRegistered(authority, msg.value);
        _setEndpoint(authority, endpoint);
    }

    /// @notice The caller (a registered authority) changes its node's URL.
    function setEndpoint(string calldata endpoint) external {
        Authority storage a = authorities[msg.sender];
        if (a.stake == 0 || a.removedAt != 0) revert NotRegistered(msg.sender);
        _setEndpoint(msg.sender, endpoint);
    }

    /// @notice Take `authority` out of the next committee; its stake stays locked (and
    ///         slashable) until withdrawableAt(authority).
    function removeAuthority(address authority) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!_nextCommittee.remove(authority)) revert NotRegistered(authority);
        authorities[authority].removedAt = uint64(block.timestamp);
        emit AuthorityRemoved(authority, block.timestamp);
    }

    /// @notice A removed authority takes its stake back once withdrawableAt has passed.
    function withdrawStake() external nonReentrant {
        Authority storage a = authorities[msg.sender];
        uint256 amount = a.stake;
        if (amount == 0) revert NothingToWithdraw();
        uint64 at = withdrawableAt(msg.sender);
        if (at == 0 || block.timestamp < at) revert StillBonded(at);
        a.stake = 0;
        emit StakeWithdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    /// @notice Snapshot the next committee as epoch currentEpoch + 1, active from
    ///         `activatesAt` (>= now + activationDelay; the first epoch may activate at once:
    ///         0 or a past time means now).
    function advanceEpoch(uint64 activatesAt)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
        returns (uint64 epoch)
    {
        epoch = consensus.currentEpoch() + 1;
        if (epoch > 1 && activatesAt < block.timestamp + activationDelay) {
            revert ActivationTooEarly(activatesAt, block.timestamp + activationDelay);
        }
        address[] memory members = _nextCommittee.values();
        if (members.length == 0) revert EmptyCommittee();
        uint256[] memory stakes = new uint256[](members.length);
        for (uint256 i = 0; i < members.length; ++i) {
            Authority storage a = authorities[members[i]];
            stakes[i] = a.stake;
            a.lastEpoch = epoch;
        }
        consensus.snapshot(epoch, members, stakes, activatesAt);
        emit EpochAdvanced(epoch, members.length, consensus.activatesAt(epoch));
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

    /// @notice Change how long a removed authority's stake stays slashable after its last
    ///         epoch stops settling (never below MIN_UNBONDING_PERIOD).
    function setUnbondingPeriod(uint64 period) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setUnbondingPeriod(period);
    }

    /// @notice Change the notice before a new epoch activates (never below MIN_ACTIVATION_DELAY).
    function setActivationDelay(uint64 delay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setActivationDelay(delay);
    }

    // ---------------------------------------------------------------- views

    /// @notice When a removed authority may withdraw: unbondingPeriod after the later of its
    ///         removal and settlesUntil(its last epoch). 0 while that is not known yet
    ///         (still registered, or its last epoch has not closed).
    function withdrawableAt(address authority) public view returns (uint64) {
        Authority storage a = authorities[authority];
        uint64 start = a.removedAt;
        if (start == 0) return 0;
        if (a.lastEpoch != 0) {
            uint64 settles = consensus.settlesUntil(a.lastEpoch);
            if (settles == 0) return 0;
            if (settles > start) start = settles;
        }
        return start + unbondingPeriod;
    }

    /// @notice The node URL of `authority` ("" if it never registered).
    function endpointOf(address authority) external view returns (string memory) {
        return _endpoints[authority];
    }

    /// @notice True when `authority` is in the active epoch's committee and not slashed.
    function isAuthorityActive(address authority) external view returns (bool) {
        return consensus.stakeOf(consensus.activeEpoch(), authority) != 0
            && !authorities[authority].slashed;
    }

    /// @notice Number of members of the active epoch's committee.
    function getCommitteeSize() external view returns (uint256) {
        return consensus.membersOf(consensus.activeEpoch()).length;
    }

    /// @notice Members that will form the committee at the next `advanceEpoch`.
    function nextCommittee() external view returns (address[] memory) {
        return _nextCommittee.values();
    }

    /// @notice The latest registered epoch (0 before the first `advanceEpoch`; it may not be
    ///         active yet: consensus.activeEpoch()).
    function currentEpoch() external view returns (uint64) {
        return consensus.currentEpoch();
    }

    /// @notice Identifier of equivocation evidence: one per (authority, sender, sequence),
    ///         across epochs.
    function evidenceIdOf(address authority, address sender, uint64 sequence)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(authority, sender, sequence));
    }

    /// @notice What a reporter commits before revealing evidence (see reportEquivocation).
    function evidenceCommitment(
        address reporter,
        FastPayTypes.TransferOrder calldata first,
        bytes calldata firstSig,
        FastPayTypes.TransferOrder calldata second,
        bytes calldata secondSig,
        bytes32 salt
    ) public pure returns (bytes32) {
        return keccak256(abi.encode(reporter, first, firstSig, second, secondSig, salt));
    }

    /// @notice Check evidence without committing or slashing: reverts with the reason it is
    ///         refused, else returns the authority it convicts and the evidence id.
    function checkEquivocation(
        FastPayTypes.TransferOrder calldata first,
        bytes calldata firstSig,
        FastPayTypes.TransferOrder calldata second,
        bytes calldata secondSig
    ) public view returns (address authority, bytes32 evidenceId) {
        if (
            first.sender != second.sender || first.sequence != second.sequence
                || (
                    first.recipient == second.recipient && first.token == second.token
                        && first.amount == second.amount
                )
        ) revert NotEquivocation();
        authority = _recoverVote(first, firstSig);
        address other = _recoverVote(second, secondSig);
        if (authority != other) revert DifferentSigners(authority, other);
        if (consensus.stakeOf(first.epoch, authority) == 0) {
            revert NotCommitteeMember(authority, first.epoch);
        }
        if (consensus.stakeOf(second.epoch, authority) == 0) {
            revert NotCommitteeMember(authority, second.epoch);
        }
        evidenceId = evidenceIdOf(authority, first.sender, first.sequence);
        if (evidenceUsed[evidenceId]) revert EvidenceAlreadyUsed(evidenceId);
        Authority storage a = authorities[authority];
        if (a.slashed) revert AuthoritySlashedBefore(authority);
        if (a.stake == 0) revert NothingToSlash(authority);
    }

    // ---------------------------------------------------------------- slashing

    /// @notice Step 1 of a report: commit evidenceCommitment(reporter, evidence..., salt),
    ///         which hides the evidence. Anyone may commit; only `reporter` can reveal it.
    function commitEvidence(bytes32 commitment) external {
        if (commitments[commitment] != 0) return; // the earliest commitment stands
        commitments[commitment] = block.number;
        emit EvidenceCommitted(commitment, block.number);
    }

    /// @notice Step 2, in a later block than the commitment: slash an authority that voted
    ///         for two different payments with the same (sender, sequence), in any epochs.
    ///         The reward goes to the caller, who must be the reporter of the commitment: a
    ///         copy of this transaction sent by someone else finds no commitment of theirs.
    /// @param first One order, with the authority's 65-byte vote signature `firstSig`.
    /// @param second An order for the same (sender, sequence) and another payment, `secondSig`.
    /// @param salt The secret of the commitment.
    function reportEquivocation(
        FastPayTypes.TransferOrder calldata first,
        bytes calldata firstSig,
        FastPayTypes.TransferOrder calldata second,
        bytes calldata secondSig,
        bytes32 salt
    ) external nonReentrant {
        bytes32 commitment = evidenceCommitment(msg.sender, first, firstSig, second, secondSig, salt);
        uint256 committedAt = commitments[commitment];
        if (committedAt == 0) revert NotCommitted(commitment);
        if (committedAt >= block.number) revert RevealTooEarly(committedAt);
        delete commitments[commitment];
        (address signer, bytes32 evidenceId) = checkEquivocation(first, firstSig, second, secondSig);
        _slash(signer, evidenceId);
    }

    function _slash(address signer, bytes32 evidenceId) private {
        evidenceUsed[evidenceId] = true;
        Authority storage a = authorities[signer];
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

    function _setEndpoint(address authority, string calldata endpoint) private {
        uint256 length = bytes(endpoint).length;
        if (length == 0 || length > MAX_ENDPOINT_LENGTH) revert InvalidEndpoint();
        _endpoints[authority] = endpoint;
        emit EndpointChanged(authority, endpoint);
    }

    function _setUnbondingPeriod(uint64 period) private {
        if (period < MIN_UNBONDING_PERIOD) revert UnbondingTooShort(period, MIN_UNBONDING_PERIOD);
        unbondingPeriod = period;
        emit UnbondingPeriodChanged(period);
    }

    function _setActivationDelay(uint64 delay) private {
        if (delay < MIN_ACTIVATION_DELAY) revert ActivationDelayTooShort(delay, MIN_ACTIVATION_DELAY);
        activationDelay = delay;
        emit ActivationDelayChanged(delay);
    }

    function _send(address to, uint256 amount) private {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }
}
