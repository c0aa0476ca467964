// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

import {CommitteeConsensus} from "./CommitteeConsensus.sol";
import {FastPayTypes} from "./FastPayTypes.sol";

/// @title CertificateVerifier
/// @notice The one EIP-712 domain of FastPay: name "FastPay", version "1", this chain's id
///         and THIS contract's address as verifyingContract. Transfer orders (signed by
///         users), votes (signed by authorities) and batches (signed by the committee) are
///         all hashed here, and quorums are checked here.
/// @dev A signature list is the concatenation of 65-byte (r, s, v) signatures, sorted by
///      strictly increasing signer address (which rules out duplicates cheaply). Each signer
///      must be a non-slashed member of the epoch's committee; their stake must sum to more
///      than 2/3 of the epoch's total. High-s (malleable) signatures are rejected by ECDSA.
contract CertificateVerifier is EIP712 {
    CommitteeConsensus public immutable consensus;

    // Reasons, used both as revert errors and as bytes4 status codes (0 = valid).
    error MalformedSignatures();
    error UnknownEpoch();
    error InvalidSignature();
    error SignersNotAscending();
    error SignerNotInCommittee();
    error SignerSlashed();
    error BelowQuorum();

    /// @param consensus_ The committee snapshots certificates are checked against.
    constructor(CommitteeConsensus consensus_) EIP712("FastPay", "1") {
        consensus = consensus_;
    }

    /// @notice EIP-712 digest the sender signs for `order`.
    function orderDigest(FastPayTypes.TransferOrder calldata order) external view returns (bytes32) {
        return _hashTypedDataV4(FastPayTypes.hashOrder(order));
    }

    /// @notice EIP-712 digest an authority signs to vote for `order`.
    function voteDigest(FastPayTypes.TransferOrder calldata order) public view returns (bytes32) {
        return _hashTypedDataV4(FastPayTypes.hashVote(order));
    }

    /// @notice EIP-712 digest the committee signs for a settlement batch settled by
    ///         `processor` into `vault`.
    function batchDigest(uint64 epoch, uint64 batchId, address processor, address vault, bytes32 itemsHash)
        external
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(FastPayTypes.hashBatch(epoch, batchId, processor, vault, itemsHash));
    }

    /// @notice The EIP-712 domain separator of FastPay on this chain.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice Status of a certificate (order + authority votes): 0 if a quorum of the
    ///         order's epoch voted for it, else the selector of the reason (errors above).
    function certificateStatus(FastPayTypes.TransferOrder calldata order, bytes calldata signatures)
        external
        view
        returns (bytes4)
    {
        return quorumStatus(voteDigest(order), order.epoch, signatures);
    }

    /// @notice True when `signatures` are a quorum of votes for `order` in its epoch.
    function verifyCertificate(FastPayTypes.TransferOrder calldata order, bytes calldata signatures)
        external
        view
        returns (bool)
    {
        return quorumStatus(voteDigest(order), order.epoch, signatures) == bytes4(0);
    }

    /// @notice Check that `signatures` over `digest` are a quorum of the `epoch` committee.
    /// @return status 0 when they are, else the selector of the reason.
    function quorumStatus(bytes32 digest, uint64 epoch, bytes calldata signatures)
        public
        view
        returns (bytes4 status)
    {
        uint256 count = signatures.length / 65;
        if (count == 0 || signatures.length != count * 65) return MalformedSignatures.selector;
        uint256 total = consensus.totalStake(epoch);
        if (total == 0) return UnknownEpoch.selector;

        uint256 signed;
        address previous;
        for (uint256 i = 0; i < count; ++i) {
            (address signer, ECDSA.RecoverError err,) =
                ECDSA.tryRecoverCalldata(digest, signatures[i * 65:(i + 1) * 65]);
            if (err != ECDSA.RecoverError.NoError) return InvalidSignature.selector;
            if (signer <= previous) return SignersNotAscending.selector;
            previous = signer;
            (uint256 stake, bool slashed) = consensus.memberInfo(epoch, signer);
            if (stake == 0) return SignerNotInCommittee.selector;
            if (slashed) return SignerSlashed.selector;
            signed += stake;
        }
        if (signed * 3 <= total * 2) return BelowQuorum.selector;
        return bytes4(0);
    }
}
