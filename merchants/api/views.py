from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from fastpay.api_auth import IsAuthenticatedUser
from merchants.api import serializers as s
from merchants.rates.lookup import rate_get


class RateApi(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        summary="An exchange rate (median of fresh provider quotes)",
        parameters=[
            OpenApiParameter("base", str, required=True, description="USDT or USDC"),
            OpenApiParameter("quote", str, required=True, description="USD, EUR, ..."),
        ],
        responses=s.RateSerializer,
    )
    def get(self, request):
        query = s.RateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rate = rate_get(query.validated_data["base"], query.validated_data["quote"])
        return Response(s.RateSerializer(rate.to_json()).data)
