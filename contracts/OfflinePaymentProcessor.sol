// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {BoundedPausable} from "./BoundedPausable.sol";
import {CertificateVerifier} from "./CertificateVerifier.sol";
import {CommitteeConsensus} from "./CommitteeConsensus.sol";
import {FastPayTypes} from "./FastPayTypes.sol";
import {TokenVault} from "./TokenVault.sol";

/// @title OfflinePaymentProcessor
/// @notice Settles FastPay REDEMPTIONS on-chain: certificates whose `order.recipient` is this
///         contract's own address (the "redemption address"). Authorities debit the sender of
///         such a certificate and credit no FastPay account (the money leaves FastPay); here
///         the amount moves from the vault's pool to the SENDER's withdrawable vault balance,
///         from where they withdraw. Any other certificate is an internal FastPay transfer,
///         already paid inside FastPay, and is refused (`NotARedemption`): otherwise one
///         certificate could be paid twice, once by the authorities and once on-chain.
///         Replay protection: a bitmap of redeemed sequences per sender (`isRedeemed`), so
///         a sender's redemptions settle in any order, each once, whatever the path.
///         A certificate of epoch e settles only until CommitteeConsensus.settlesUntil(e)
///         (0 = e has no successor yet: open); after that it is refused, so a retired
///         committee cannot certify anything that still settles.
///         Two paths:
///         - `submitBatch` / `processOfflinePayment`: each certificate carries its own quorum
///           of authority votes, verified one by one (simple, about 3 ecrecovers each);
///         - `submitCommitteeBatch`: the committee signs ONE EIP-712 `Batch` over compact
///           items (after checking every certificate in it); the quorum is verified once.
///           The batch names this processor and its vault, and settles once (any order).
///         In both batch paths a bad item is skipped with `CertificateRejected` and never
///         reverts the batch.
contract OfflinePaymentProcessor is AccessControlDefaultAdminRules, BoundedPausable, ReentrancyGuard {
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");

    TokenVault public immutable vault;
    CertificateVerifier public immutable verifier;
    CommitteeConsensus public immutable consensus;

    /// @dev Per sender, 256 sequences per word: bit (sequence & 255) of word (sequence >> 8)
    ///      is set once that redemption settled. A sender's first 256 sequences share one
    ///      slot, so a steady sender pays a warm-ish rewrite (5,000 gas), not a fresh slot.
    mapping(address sender => mapping(uint256 word => uint256 bits)) private _redeemed;
    /// @dev Settled committee batch ids, 256 per word (each batch id settles once).
    mapping(uint256 word => uint256 bits) private _settledBatches;

    /// @notice `units` of `token` moved from the pool to `beneficiary`'s vault balance for the
    ///         redemption (`sender`, `sequence`); the beneficiary is always the sender.
    event PaymentSettled(
        address indexed sender, uint64 sequence, address indexed beneficiary, address token, uint256 units
    );
    /// @notice Item `index` of a batch was skipped; `reason` is the selector of the error
    ///         it would have reverted with (see the errors here and in CertificateVerifier).
    event CertificateRejected(uint256 indexed index, address indexed sender, uint64 sequence, bytes4 reason);
    event CommitteeBatchSettled(
        uint64 indexed batchId, uint64 indexed epoch, bytes32 itemsHash, uint256 items, uint256 settled
    );

    error SequenceAlreadyRedeemed();
    /// @dev The certificate's recipient is not this contract (a committee-batch item's
    ///      beneficiary is not its sender): an internal FastPay transfer, never settled here.
    error NotARedemption();
    error ZeroRecipient();
    error LengthMismatch();
    error EmptyBatch();
    error MalformedItems();
    error CreditFailed();
    error BatchAlreadySettled(uint64 batchId);
    /// @dev Epoch `epoch`'s certificates settled until `settlesUntil`, which has passed.
    error SettlementWindowClosed(uint64 epoch, uint64 settlesUntil);
    /// @dev Wraps a CertificateVerifier reason when a single settlement reverts.
    error CertificateInvalid(bytes4 reason);
    /// @dev The vault's fixed processor is not this contract (a wrong deployment).
    error VaultNotWired(address vault);

    /// @param adminDelay Delay of a DEFAULT_ADMIN_ROLE transfer (AccessControlDefaultAdminRules).
    /// @param admin DEFAULT_ADMIN_ROLE (the TimelockController in production).
    /// @param guardian Receives GUARDIAN_ROLE (may pause, for a bounded time).
    /// @param settler Receives SETTLER_ROLE (submits batches), unless address(0).
    /// @param vault_ The vault, whose `processor` must be this contract.
    /// @param verifier_ The FastPay EIP-712 domain and quorum checks.
    constructor(
        uint48 adminDelay,
        address admin,
        address guardian,
        address settler,
        TokenVault vault_,
        CertificateVerifier verifier_
    ) AccessControlDefaultAdminRules(adminDelay, admin) {
        if (vault_.processor() != address(this)) revert VaultNotWired(address(vault_));
        _grantRole(GUARDIAN_ROLE, guardian);
        if (settler != address(0)) _grantRole(SETTLER_ROLE, settler);
        vault = vault_;
        verifier = verifier_;
        consensus = verifier_.consensus();
    }

    /// @notice True once the redemption (`sender`, `sequence`) settled here.
    function isRedeemed(address sender, uint64 sequence) external view returns (bool) {
        return _redeemed[sender][sequence >> 8] & (1 << (sequence & 255)) != 0;
    }

    /// @notice Word `word` of `sender`'s bitmap: bit i set = sequence 256 * word + i settled.
    function redeemedBits(address sender, uint256 word) external view returns (uint256) {
        return _redeemed[sender][word];
    }

    /// @notice True once committee batch `batchId` settled here.
    function isBatchSettled(uint64 batchId) public view returns (bool) {
        return _settledBatches[batchId >> 8] & (1 << (batchId & 255)) != 0;
    }

    /// @notice Until when certificates of `epoch` settle (0 = no limit yet, the epoch has not
    ///         closed); the same rule every path applies.
    function settlesUntil(uint64 epoch) external view returns (uint64) {
        return consensus.settlesUntil(epoch);
    }

    // ---------------------------------------------------------------- per-certificate path

    /// @notice True when `signatures` are a valid quorum of votes for `order`: a pure quorum
    ///         check. It says nothing about settlement: the order may already be redeemed, or
    ///         not be a redemption at all (`order.recipient != address(this)`), and then
    ///         `processOfflinePayment` refuses it.
    function verifyCertificate(FastPayTypes.TransferOrder calldata order, bytes calldata signatures)
        external
        view
        returns (bool)
    {
        return verifier.verifyCertificate(order, signatures);
    }

    /// @notice Settle one redemption certificate (`order.recipient == address(this)`) to the
    ///         sender's vault balance; anyone may call (a user's own way to the chain).
    /// @dev Reverts `NotARedemption()` for any other recipient, `SettlementWindowClosed` once
    ///      the order's epoch can no longer settle, `CertificateInvalid(reason)` for a
    ///      redeemed sequence or a bad quorum, or with the vault's error.
    /// @return True on success (reverts otherwise).
    function processOfflinePayment(FastPayTypes.TransferOrder calldata order, bytes calldata signatures)
        external
        whenNotPaused
        nonReentrant
        returns (bool)
    {
        if (order.recipient != address(this)) revert NotARedemption();
        _requireOpen(order.epoch);
        bytes4 reason = _checkCertificate(order, signatures);
        if (reason != bytes4(0)) revert CertificateInvalid(reason);
        uint64 sequence = order.sequence;
        _redeemed[order.sender][sequence >> 8] |= 1 << (sequence & 255);
        vault.credit(order.token, order.sender, order.amount);
        emit PaymentSettled(order.sender, sequence, order.sender, order.token, order.amount);
        return true;
    }

    /// @notice Settle many redemption certificates, each with its own quorum, each to its
    ///         sender's vault balance; bad ones (including any whose recipient is not this
    ///         contract: `NotARedemption`, or whose epoch's window closed:
    ///         `SettlementWindowClosed`) are skipped with `CertificateRejected`.
    /// @param orders Transfer orders (amounts in ledger units).
    /// @param signatures For each order, its authorities' votes (65 bytes each, ascending signer).
    /// @return settled Number of certificates settled.
    function submitBatch(FastPayTypes.TransferOrder[] calldata orders, bytes[] calldata signatures)
        external
        onlyRole(SETTLER_ROLE)
        whenNotPaused
        nonReentrant
        returns (uint256 settled)
    {
        if (orders.length != signatures.length) revert LengthMismatch();
        if (orders.length == 0) revert EmptyBatch();
        uint256 openEpoch = type(uint256).max; // the last epoch found open (one look-up per run)
        for (uint256 i = 0; i < orders.length; ++i) {
            FastPayTypes.TransferOrder calldata order = orders[i];
            bytes4 reason;
            if (order.recipient != address(this)) {
                reason = NotARedemption.selector;
            } else if (order.epoch != openEpoch && !_isOpen(order.epoch)) {
                reason = SettlementWindowClosed.selector;
            } else {
                openEpoch = order.epoch;
                reason = _checkCertificate(order, signatures[i]);
            }
            if (reason == bytes4(0)) reason = _settle(order.sender, order.sequence, order.token, order.amount);
            if (reason == bytes4(0)) ++settled;
            else emit CertificateRejected(i, order.sender, order.sequence, reason);
        }
    }

    // ---------------------------------------------------------------- committee batch path

    /// @notice Settle a batch of redemptions signed once by a quorum of the `epoch` committee.
    /// @dev Items: two words each.
    ///      word 0 = sender << 96 | sequence << 32 | tokenId (vault token id)
    ///      word 1 = beneficiary << 96 | amount (ledger units, < 2**96)
    ///      Every item stands for a redemption certificate, so its beneficiary MUST be its
    ///      sender (checked here: an item whose beneficiary differs is skipped with
    ///      `NotARedemption`); the word is kept (rather than implied) so the committee's
    ///      signature names who gets paid and word 1 is exactly the vault's credit word.
    ///      The committee signs EIP-712 Batch(epoch, batchId, processor, vault, itemsHash)
    ///      with processor = this contract, vault = its vault and itemsHash = keccak256 of
    ///      the concatenated words. A batch id settles once, in any order
    ///      (`BatchAlreadySettled`); a bad signature set or a closed settlement window
    ///      reverts the whole call; an item that is not a redemption, already redeemed (in
    ///      any path, or earlier in this batch), for an unknown token, from the zero address
    ///      or above what the pool holds is skipped with CertificateRejected. Accepted items
    ///      are credited by one vault call (the per-item cost is what the gas target is about).
    /// @return settled Number of items settled.
    function submitCommitteeBatch(
        uint64 epoch,
        uint64 batchId,
        bytes32[] calldata items,
        bytes calldata signatures
    ) external onlyRole(SETTLER_ROLE) whenNotPaused nonReentrant returns (uint256 settled) {
        uint256 words = items.length;
        bytes32 itemsHash = _acceptBatch(epoch, batchId, items, signatures);
        bytes4 reason;

        TokenCache memory cache = _newCache();
        uint256[] memory credits = new uint256[](words);
        for (uint256 w = 0; w < words;) {
            uint256 head = uint256(items[w]);
            uint256 tail = uint256(items[w + 1]);
            address sender = address(uint160(head >> 96));
            uint64 sequence = uint64(head >> 32);
            reason = _acceptItem(cache, sender, sequence, uint32(head), tail);
            // Unchecked: w, settled <= words, far below 2**255 (indexing stays bounds-checked).
            unchecked {
                w += 2;
                if (reason != bytes4(0)) {
                    emit CertificateRejected(w / 2 - 1, sender, sequence, reason);
                    continue;
                }
                credits[2 * settled] = uint32(head);
                credits[2 * settled + 1] = tail;
                ++settled;
            }
            emit PaymentSettled(sender, sequence, sender, cache.token[uint32(head)], uint96(tail));
        }
        if (settled != 0) {
            assembly ("memory-safe") {
                mstore(credits, mul(settled, 2)) // shrink to the accepted items
            }
            vault.creditBatch(credits);
        }
        emit CommitteeBatchSettled(batchId, epoch, itemsHash, words / 2, settled);
    }

    // ---------------------------------------------------------------- emergency

    /// @notice Stop all settlement (guardian) for at most MAX_PAUSE_DURATION (BoundedPausable).
    function pause() external onlyRole(GUARDIAN_ROLE) {
        _pauseBounded();
    }

    /// @notice End the pause early (admin).
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpauseEarly();
    }

    // ---------------------------------------------------------------- internals

    /// @dev Checks a committee batch as a whole (shape, not settled yet, window open, the
    ///      committee's signatures over this processor and vault) and marks its id settled.
    function _acceptBatch(uint64 epoch, uint64 batchId, bytes32[] calldata items, bytes calldata signatures)
        private
        returns (bytes32 itemsHash)
    {
        uint256 words = items.length;
        if (words == 0) revert EmptyBatch();
        if (words % 2 != 0) revert MalformedItems();
        uint256 bit = 1 << (batchId & 255);
        uint256 bits = _settledBatches[batchId >> 8];
        if (bits & bit != 0) revert BatchAlreadySettled(batchId);
        _requireOpen(epoch);
        itemsHash = keccak256(abi.encodePacked(items));
        bytes32 digest = verifier.batchDigest(epoch, batchId, address(this), address(vault), itemsHash);
        bytes4 reason = verifier.quorumStatus(digest, epoch, signatures);
        if (reason != bytes4(0)) revert CertificateInvalid(reason);
        _settledBatches[batchId >> 8] = bits | bit;
    }

    /// @dev True while certificates of `epoch` may settle.
    function _isOpen(uint64 epoch) private view returns (bool) {
        uint64 until = consensus.settlesUntil(epoch);
        return until == 0 || block.timestamp <= until;
    }

    function _requireOpen(uint64 epoch) private view {
        uint64 until = consensus.settlesUntil(epoch);
        if (until != 0 && block.timestamp > until) revert SettlementWindowClosed(epoch, until);
    }

    /// @dev Replay and quorum of one certificate (the caller has checked it is a redemption).
    function _checkCertificate(FastPayTypes.TransferOrder calldata order, bytes calldata signatures)
        private
        view
        returns (bytes4)
    {
        uint64 sequence = order.sequence;
        if (_redeemed[order.sender][sequence >> 8] & (1 << (sequence & 255)) != 0) {
            return SequenceAlreadyRedeemed.selector;
        }
        return verifier.certificateStatus(order, signatures);
    }

    /// @dev Credits a redemption to its sender. Effects first (its bit), then the vault; a
    ///      vault refusal (unknown token, pool too small, ...) clears the bit again and
    ///      becomes the rejection reason.
    function _settle(address sender, uint64 sequence, address token, uint256 units) private returns (bytes4) {
        mapping(uint256 => uint256) storage bitmap = _redeemed[sender];
        uint256 word = sequence >> 8;
        uint256 previous = bitmap[word];
        bitmap[word] = previous | (1 << (sequence & 255));
        try vault.credit(token, sender, units) {
            emit PaymentSettled(sender, sequence, sender, token, units);
            return bytes4(0);
        } catch (bytes memory err) {
            bitmap[word] = previous;
            // a revert without a selector (out of gas, bare revert) must not read as success
            return err.length >= 4 ? bytes4(err) : CreditFailed.selector;
        }
    }

    /// @dev What a committee batch may still take from the pool, per vault token id, so an
    ///      item the vault could not pay is skipped here instead of reverting the vault's
    ///      single credit call. `poolLeft[id]` stores pool + 1 once loaded (0 = not loaded).
    struct TokenCache {
        address[] token;
        uint256[] scale;
        uint256[] poolLeft;
    }

    function _newCache() private view returns (TokenCache memory cache) {
        uint256 count = vault.tokenCount();
        cache.token = new address[](count);
        cache.scale = new uint256[](count);
        cache.poolLeft = new uint256[](count);
    }

    /// @dev Checks one committee-batch item and, if it can settle, records its sequence and
    ///      reserves its amount in `cache`. Returns 0 or the skip reason.
    function _acceptItem(TokenCache memory cache, address sender, uint64 sequence, uint256 tokenId, uint256 tail)
        private
        returns (bytes4)
    {
        if (tail >> 96 != uint160(sender)) return NotARedemption.selector;
        if (sender == address(0)) return ZeroRecipient.selector;
        mapping(uint256 => uint256) storage bitmap = _redeemed[sender];
        uint256 word = sequence >> 8;
        uint256 bits = bitmap[word];
        uint256 bit = 1 << (sequence & 255);
        if (bits & bit != 0) return SequenceAlreadyRedeemed.selector;
        if (tokenId >= cache.token.length) return TokenVault.UnknownTokenId.selector;
        uint256 left = cache.poolLeft[tokenId];
        if (left == 0) {
            uint256 pool;
            (cache.token[tokenId], cache.scale[tokenId], pool) = vault.tokenState(tokenId);
            left = pool + 1;
        }
        uint256 amount = uint256(uint96(tail)) * cache.scale[tokenId];
        if (amount >= left) return TokenVault.InsufficientPool.selector;
        cache.poolLeft[tokenId] = left - amount;
        bitmap[word] = bits | bit;
        return bytes4(0);
    }
}
